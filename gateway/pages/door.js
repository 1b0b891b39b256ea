// The door page (`/door/{event_id}`): a steward's phone checks tickets in.
// A code comes from the camera (the browser's BarcodeDetector, where there
// is one) or is typed; the answer is a large green or red panel with the
// seat and the reason. Through a bad network it keeps going: codes are
// verified here with the ticket key (Ed25519), against the event's number,
// the cancelled orders and the tickets let in (the door's list, fetched
// and kept), and a check-in the server could not take is queued with its
// scan id and sent when the network returns, saying when it was let in; a
// ticket let in twice (here without network after another door, or at
// another door without network after here) is listed under "Let in twice"
// at both doors.
'use strict';

const door = {
  eventId: decodeURIComponent(location.pathname.replace(/^\/door\//, '').replace(/\/$/, '')),
  key: null,
  syncing: false,
  lastCamera: { code: '', at: 0 },
  /** Code → the scan id used for it lately, and when. */
  recentScans: new Map(),
};

/** How long a check-in waits for the server before it is judged here. */
const ONLINE_PATIENCE_MS = 4000;
const SYNC_EVERY_MS = 3000;
const LIST_EVERY_MS = 30000;

function storeKey() {
  return 'guichet.door.' + door.eventId;
}

/** What this door keeps: token, door name, the list, the queue, the tickets it knows are used, conflicts. */
function saved() {
  const state = local.getJson(storeKey()) || {};
  return Object.assign({ token: '', door: '', list: null, queue: [], used: {}, conflicts: [] }, state);
}

function save(state) {
  local.setJson(storeKey(), state);
}

function base64url(text) {
  const plain = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = plain + '='.repeat((4 - (plain.length % 4)) % 4);
  const binary = atob(padded);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** A ticket code's parts (`null` if it is not one): the signed payload and what it says. */
function decode(code) {
  const parts = code.split('.');
  if (parts.length !== 2) return null;
  let payload;
  let signature;
  try {
    payload = base64url(parts[0]);
    signature = base64url(parts[1]);
  } catch (e) {
    return null;
  }
  if (payload.length !== 19 || payload[0] !== 1 || signature.length !== 64) return null;
  const view = new DataView(payload.buffer);
  return {
    payload, signature,
    event: view.getUint32(1, true),
    order: view.getBigUint64(5, true).toString(),
    index: view.getUint16(13, true),
    count: view.getUint32(15, true),
  };
}

function ticketKey(ticket) {
  return ticket.order + '-' + ticket.index;
}

/** The ticket key, as WebCrypto takes it (`null` where this browser cannot verify Ed25519). */
async function ticketKey25519(list) {
  if (door.key && door.key.from === list.ticket_public_key) return door.key.key;
  try {
    const key = await crypto.subtle.importKey('raw', base64url(list.ticket_public_key), { name: 'Ed25519' }, false, ['verify']);
    door.key = { from: list.ticket_public_key, key };
    return key;
  } catch (e) {
    return null;
  }
}

/** What the door's list says of a ticket, without the network: a verdict, or `null` (nothing against it). */
async function judgeOffline(state, ticket) {
  const list = state.list;
  if (!list) return { offline: false };
  if (ticket.event !== list.event_number) return { bad: 'invalid', why: t('door.why.other_event') };
  const key = await ticketKey25519(list);
  if (key) {
    const genuine = await crypto.subtle.verify({ name: 'Ed25519' }, key, ticket.signature, ticket.payload);
    if (!genuine) return { bad: 'invalid', why: t('door.why.forged') };
  }
  if (list.cancelled_orders.includes(ticket.order)) return { bad: 'cancelled', why: t('door.why.cancelled') };
  const used = state.used[ticketKey(ticket)];
  if (used) return { bad: 'used', why: t('door.why.used', { door: used.door, when: timeShort(new Date(used.at)) }) };
  return { offline: Boolean(key) };
}

/**
 * One POST of a check-in: the answer, or `null` when the server could not be
 * reached in time. A queued item was let in here without network: it says when.
 */
async function send(state, item, queued) {
  const letInAt = queued ? item.let_in_at || item.at : null;
  try {
    const response = await fetch('/v1/events/' + encodeURIComponent(door.eventId) + '/checkins', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + state.token, 'Content-Type': 'application/json' },
      body: JSON.stringify(letInAt
        ? { code: item.code, door: item.door, scan_id: item.scan_id, let_in_at: letInAt }
        : { code: item.code, door: item.door, scan_id: item.scan_id }),
      cache: 'no-store',
      signal: AbortSignal.timeout(ONLINE_PATIENCE_MS),
    });
    const body = await response.json().catch(() => null);
    if (response.status >= 500) return null;
    return { status: response.status, body };
  } catch (e) {
    return null;
  }
}

function seatText(ticket) {
  if (!ticket) return '';
  if (ticket.row !== undefined) return t('door.seat', { section: ticket.section, row: ticket.row, number: ticket.number });
  return t('door.ga', { section: ticket.section });
}

function show(good, word, seat, why) {
  const verdict = $('verdict');
  verdict.className = 'verdict ' + (good ? 'good' : 'bad');
  $('verdict-word').textContent = word;
  $('verdict-seat').textContent = seat || '';
  $('verdict-why').textContent = why || '';
  verdict.hidden = false;
}

/** Checks one code in, online if it can, from the list if it must. */
async function check(raw) {
  const code = raw.trim();
  if (!code) return;
  const state = saved();
  const ticket = decode(code);
  if (!ticket) return show(false, t('door.no'), '', t('door.why.not_a_code'));
  const offline = await judgeOffline(state, ticket);
  if (offline.bad) return show(false, t('door.no'), '', offline.why);
  const item = { code, door: state.door, scan_id: scanIdFor(code), at: new Date().toISOString() };
  const answer = await send(state, item);
  // Read again after the wait: another scan or the sync may have saved meanwhile.
  if (answer === null) return letInOffline(saved(), ticket, item, offline.offline);
  judgeAnswer(saved(), ticket, answer);
}

/**
 * The scan id for a code: the same for a minute, so a steward who scans again
 * after an answer that never came is answered as the first scan was.
 */
function scanIdFor(code) {
  const now = Date.now();
  const recent = door.recentScans.get(code);
  if (recent && now - recent.at < 60000) return recent.id;
  const id = randomHex(16);
  door.recentScans.set(code, { id, at: now });
  return id;
}

/** The server's answer to a scan, shown. */
function judgeAnswer(state, ticket, answer) {
  const error = (answer.body && answer.body.error) || {};
  if (answer.status === 201) {
    state.used[ticketKey(ticket)] = { door: answer.body.door, at: answer.body.checked_in_at };
    save(state);
    return show(true, t('door.yes'), seatText(answer.body.ticket), '');
  }
  if (answer.status === 409) {
    state.used[ticketKey(ticket)] = { door: error.door, at: error.checked_in_at };
    save(state);
    const why = t('door.why.used', { door: error.door, when: timeShort(new Date(error.checked_in_at)) });
    return show(false, t('door.no'), seatText(error.ticket), why);
  }
  if (answer.status === 410) return show(false, t('door.no'), seatText(error.ticket), t('door.why.cancelled'));
  if (answer.status === 422) return show(false, t('door.no'), '', t('door.why.forged'));
  if (answer.status === 401 || answer.status === 403) return signIn(error.message || t('door.why.token'));
  return show(false, t('door.no'), '', error.message || 'HTTP ' + answer.status);
}

/** No network: a ticket the list vouches for is let in, and its check-in queued. */
function letInOffline(state, ticket, item, verified) {
  if (!verified) return show(false, t('door.unsure'), '', t('door.why.no_list'));
  state.queue.push(item);
  state.used[ticketKey(ticket)] = { door: item.door, at: item.at };
  save(state);
  renderSync();
  show(true, t('door.yes'), t('door.ticket_of', { n: ticket.index + 1, count: ticket.count }), t('door.offline'));
}

/** Sends the queued check-ins, in order, while the server answers. */
async function sync() {
  if (door.syncing) return;
  door.syncing = true;
  try {
    for (;;) {
      const state = saved();
      const item = state.queue[0];
      if (!item) break;
      const answer = await send(state, item, true);
      if (answer === null) break;
      if (answer.status === 401 || answer.status === 403) {
        // Kept: sent again once a steward signs in with a token that may.
        signIn(apiError(answer).message);
        break;
      }
      const settled = answer.status === 201 || answer.status === 409 || answer.status === 410 || answer.status === 422;
      if (!settled) break;
      const fresh = saved();
      fresh.queue = fresh.queue.filter((queued) => queued.scan_id !== item.scan_id);
      const error = (answer.body && answer.body.error) || {};
      if (answer.status !== 201) {
        fresh.conflicts.push({ code: item.code, here_at: item.at, seat: seatText(error.ticket), there: error.door || '', there_at: error.checked_in_at || '', why: error.code });
      }
      save(fresh);
    }
  } finally {
    door.syncing = false;
    renderSync();
  }
}

function renderSync() {
  const state = saved();
  $('door-sync').textContent = state.queue.length
    ? t('door.sync.waiting', { n: state.queue.length })
    : t('door.sync.done');
  $('door-sync').className = 'status-line' + (state.queue.length ? ' stale' : '');
  // Let in here first, then again at another door without network: the server's list says so.
  const there = ((state.list && state.list.second_entries) || []).filter((e) => e.first_door === state.door && e.door !== state.door);
  $('conflicts').hidden = state.conflicts.length === 0 && there.length === 0;
  $('conflict-list').replaceChildren(...state.conflicts.map((c) => el('li', {
    text: c.why === 'already_used'
      ? t('door.conflict.used', { here: timeShort(new Date(c.here_at)), door: c.there, there: timeShort(new Date(c.there_at)), seat: c.seat })
      : t('door.conflict.' + (c.why === 'cancelled' ? 'cancelled' : 'invalid'), { here: timeShort(new Date(c.here_at)), seat: c.seat }),
  })), ...there.map((e) => el('li', {
    text: t('door.conflict.again', { here: timeShort(new Date(e.first_at)), door: e.door, there: timeShort(new Date(e.let_in_at)), seat: seatText(e.ticket) }),
  })));
}

/** Fetches the door's list (kept for when the network is down); false if the token is refused. */
async function loadList() {
  const state = saved();
  if (!state.token) return false;
  let answer;
  try {
    answer = await apiOnce('GET', '/v1/events/' + encodeURIComponent(door.eventId) + '/checkins', { token: state.token });
  } catch (e) {
    return true;
  }
  if (answer.status === 401 || answer.status === 403 || answer.status === 404) {
    signIn(apiError(answer).message);
    return false;
  }
  if (answer.status !== 200) return true;
  const fresh = saved();
  fresh.list = answer.body;
  for (const used of answer.body.checked_in) {
    fresh.used[used.order + '-' + used.index] = { door: used.door, at: used.checked_in_at };
  }
  save(fresh);
  renderSync();
  return true;
}

function signIn(problem) {
  showOnly(['door-sign-in', 'door-scan'], 'door-sign-in');
  $('door-problem').textContent = problem || '';
  $('door-problem').hidden = !problem;
  $('door-event-line').textContent = door.eventId;
}

function scanning() {
  const state = saved();
  showOnly(['door-sign-in', 'door-scan'], 'door-scan');
  $('scan-title').textContent = t('door.at', { door: state.door });
  $('camera-start').hidden = !('BarcodeDetector' in window);
  $('camera-note').hidden = 'BarcodeDetector' in window;
  renderSync();
  $('code-input').focus();
}

async function startCamera() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
    const video = $('camera');
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    $('camera-start').hidden = true;
    const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    for (;;) {
      const found = await detector.detect(video).catch(() => []);
      const value = found.length ? found[0].rawValue : '';
      const now = Date.now();
      if (value && (value !== door.lastCamera.code || now - door.lastCamera.at > 3000)) {
        door.lastCamera = { code: value, at: now };
        await check(value);
      }
      await sleep(250);
    }
  } catch (e) {
    $('camera-note').hidden = false;
    $('camera-start').hidden = true;
  }
}

function setUp() {
  setupLanguage(() => { if (!$('door-scan').hidden) scanning(); else signIn(''); });
  $('door-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const state = saved();
    state.token = $('door-token').value.trim();
    state.door = $('door-name').value.trim();
    save(state);
    if (await loadList()) scanning();
  });
  $('code-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('code-input');
    await check(input.value);
    input.value = '';
    input.focus();
  });
  $('camera-start').addEventListener('click', startCamera);
  $('door-sign-out').addEventListener('click', () => {
    const state = saved();
    state.token = '';
    save(state);
    signIn('');
  });
  window.addEventListener('online', sync);
  setInterval(() => { if (saved().queue.length) sync(); }, SYNC_EVERY_MS);
  setInterval(() => { if (saved().token) loadList(); }, LIST_EVERY_MS);
  const state = saved();
  if (state.token && state.door) {
    scanning();
    loadList();
    sync();
  } else {
    signIn('');
  }
}

document.addEventListener('DOMContentLoaded', setUp);
