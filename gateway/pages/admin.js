// The promoter's page (`/admin`): asks for the admin token (kept in
// sessionStorage, for this tab only), lists the events, creates one from a
// form or from a copy of another, and shows an event's live dashboard from
// `GET /v1/events/{id}/stats` every few seconds, with the room's controls
// (`PATCH .../room`) and the order list (`GET .../orders`, cancel). With an
// admin token it also lists, makes and revokes staff tokens (`/v1/tokens`).
'use strict';

const REFRESH_MS = 3000;
const session = safeStorage(window.sessionStorage);
const TOKEN_KEY = 'guichet.admin';

const admin = {
  events: [],
  eventId: null,
  event: null,
  stats: null,
  refreshedAt: null,
  timer: null,
  orders: [],
  next: null,
  controlsFilled: false,
  tokens: null,
};

function token() {
  return session.get(TOKEN_KEY);
}

function problem(text) {
  $('problem').textContent = text || '';
  $('problem').hidden = !text;
}

function message(text) {
  $('message').textContent = text || '';
  $('message').hidden = !text;
}

function failure(error) {
  return error instanceof TypeError ? t('error.network') : t('error.generic', { message: error.message });
}

/** A staff call; a refused token (not one whose role or events do not reach) sends the promoter back to sign in. */
async function adminApi(method, path, options) {
  const answer = await api(method, path, Object.assign({ token: token() }, options || {}));
  if (answer.status === 401 || (answer.status === 403 && apiError(answer).code === 'admin_only')) {
    signOut();
    problem(t('admin.bad_token'));
    throw new Error(t('admin.bad_token'));
  }
  return answer;
}

function signOut() {
  session.remove(TOKEN_KEY);
  clearTimeout(admin.timer);
  admin.eventId = null;
  for (const id of ['chooser', 'tokens', 'dashboard', 'create', 'signout']) $(id).hidden = true;
  $('login').hidden = false;
  $('token').value = '';
  $('token').focus();
}

// ---- events ----

async function loadEvents() {
  const answer = await api('GET', '/v1/events');
  if (answer.status !== 200) throw new Error(apiError(answer).message);
  admin.events = answer.body.events.slice().sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  for (const select of [$('event-select'), $('template')]) {
    const previous = select.value;
    select.replaceChildren(...admin.events.map((e) => el('option', { value: e.id, text: e.name + ' (' + e.id + ')' })));
    if (previous) select.value = previous;
  }
  $('no-events').hidden = admin.events.length > 0;
}

async function signedIn() {
  $('login').hidden = true;
  $('signout').hidden = false;
  $('chooser').hidden = false;
  try {
    await loadEvents();
    await loadTokens();
  } catch (error) {
    problem(failure(error));
    return;
  }
  const wanted = decodeURIComponent(location.hash.replace(/^#/, ''));
  if (wanted === 'new') showCreate();
  else if (wanted && admin.events.some((e) => e.id === wanted)) openDashboard(wanted);
  else if (admin.events.length === 0) showCreate();
}

// ---- the dashboard ----

async function openDashboard(id) {
  problem('');
  message('');
  admin.eventId = id;
  admin.orders = [];
  admin.next = null;
  admin.controlsFilled = false;
  $('event-select').value = id;
  history.replaceState(null, '', '#' + encodeURIComponent(id));
  $('create').hidden = true;
  $('dashboard').hidden = false;
  $('dash-title').textContent = '';
  clearTimeout(admin.timer);
  await refresh();
  $('dash-title').focus();
  await loadOrders(true);
}

async function refresh() {
  clearTimeout(admin.timer);
  const id = admin.eventId;
  if (!id) return;
  try {
    const [event, stats] = await Promise.all([
      api('GET', '/v1/events/' + encodeURIComponent(id)),
      adminApi('GET', '/v1/events/' + encodeURIComponent(id) + '/stats'),
    ]);
    if (id !== admin.eventId) return;
    if (event.status !== 200) throw new Error(apiError(event).message);
    if (stats.status !== 200) throw new Error(apiError(stats).message);
    admin.event = event.body;
    admin.stats = stats.body;
    admin.refreshedAt = new Date();
    renderDashboard();
  } catch (error) {
    if (!token()) return;
    const since = admin.refreshedAt ? timeOnly(admin.refreshedAt) : '–';
    $('dash-status').textContent = t('admin.stale', { when: since, why: failure(error) });
    $('dash-status').className = 'status-line stale';
  }
  if (admin.eventId === id && token()) admin.timer = setTimeout(refresh, REFRESH_MS);
}

function number(n) {
  return new Intl.NumberFormat(locale()).format(n);
}

/** The SMTP relay's state (server-wide), from the stats' `email`. */
function emailLine(email) {
  if (!email) return '';
  const waiting = t('admin.email.waiting', { n: number(email.pending), failed: number(email.failed) });
  if (!email.relay_configured) return t('admin.email.none') + ' ' + waiting;
  const failing = email.last_error_at && (!email.last_success_at || email.last_error_at > email.last_success_at);
  const state = failing
    ? t('admin.email.failing', { when: dateTime(email.last_error_at), error: email.last_error || '' })
    : email.last_success_at ? t('admin.email.ok', { when: dateTime(email.last_success_at) }) : t('admin.email.idle');
  return state + ' ' + waiting;
}

function renderDashboard() {
  const { event, stats } = admin;
  if (!event || !stats) return;
  $('dash-title').textContent = event.name;
  $('dash-state').className = 'badge ' + event.state;
  $('dash-state').textContent = t('state.' + event.state);
  $('dash-link').href = '/e/' + encodeURIComponent(event.id);
  $('dash-link').textContent = location.origin + '/e/' + event.id;
  $('dash-payment').textContent = t('admin.payment.shown', { how: t('admin.payment.' + (event.payment ? event.payment.provider : 'none')) });
  $('dash-email').textContent = emailLine(stats.email);
  $('dash-status').textContent = t('admin.live', { s: REFRESH_MS / 1000, when: timeOnly(admin.refreshedAt) });
  $('dash-status').className = 'status-line';
  const q = stats.queue;
  $('s-lobby').textContent = number(q.lobby);
  $('s-waiting').textContent = number(q.waiting);
  $('s-active').textContent = number(q.active);
  $('s-admitted').textContent = number(q.admitted_total);
  $('s-abandoned').textContent = number(q.abandoned);
  const a = stats.admission;
  $('s-rate').textContent = number(a.admit_per_minute);
  $('s-measured').textContent = number(a.measured_admit_per_minute);
  $('s-max-active').textContent = number(a.max_active);
  $('s-paused').textContent = a.paused ? t('admin.paused') : t('admin.running');
  $('c-pause').textContent = a.paused ? t('admin.resume') : t('admin.pause');
  $('c-pause').dataset.paused = String(a.paused);
  if (!admin.controlsFilled) {
    $('c-rate').value = a.admit_per_minute;
    $('c-max').value = a.max_active;
    admin.controlsFilled = true;
  }
  $('s-orders').textContent = number(stats.orders);
  $('s-revenue').textContent = money(stats.revenue_cents, event.currency);
  const checkins = stats.checkins || { total: 0, by_door: {}, by_section: {} };
  const head = el('tr', {}, [
    el('th', { text: t('admin.section') }),
    el('th', { class: 'num', text: t('admin.available') }),
    el('th', { class: 'num', text: t('admin.held') }),
    el('th', { class: 'num', text: t('admin.sold') }),
    el('th', { class: 'num', text: t('admin.revenue') }),
    el('th', { class: 'num', text: t('admin.let_in') }),
  ]);
  const sales = stats.sales || { sections: {}, tiers: {} };
  const line = (name, counts, revenue, letIn, strong) => el('tr', {}, [
    el(strong ? 'th' : 'td', { text: name }),
    el(strong ? 'th' : 'td', { class: 'num', text: number(counts.available) }),
    el(strong ? 'th' : 'td', { class: 'num', text: number(counts.held) }),
    el(strong ? 'th' : 'td', { class: 'num', text: number(counts.sold) }),
    el(strong ? 'th' : 'td', { class: 'num', text: money(revenue, event.currency) }),
    el(strong ? 'th' : 'td', { class: 'num', text: number(letIn) }),
  ]);
  const rows = event.sections.map((section) => line(
    section.name + ' (' + section.id + ')',
    stats.inventory.sections[section.id] || { available: 0, held: 0, sold: 0 },
    (sales.sections[section.id] || { revenue_cents: 0 }).revenue_cents,
    checkins.by_section[section.id] || 0,
  ));
  rows.push(line(t('admin.total'), stats.inventory.total, stats.revenue_cents, checkins.total, true));
  $('inventory').replaceChildren(el('thead', {}, [head]), el('tbody', {}, rows));
  renderTiers(event, sales, stats.revenue_cents);
  renderDoors(checkins);
}

/** Tickets sold and revenue, tier by tier (the stats' `sales.tiers`). */
function renderTiers(event, sales, total) {
  const head = el('tr', {}, [
    el('th', { text: t('admin.tier') }),
    el('th', { class: 'num', text: t('admin.price') }),
    el('th', { class: 'num', text: t('admin.sold') }),
    el('th', { class: 'num', text: t('admin.revenue') }),
  ]);
  const rows = event.tiers.map((tier) => {
    const sold = sales.tiers[tier.id] || { tickets: 0, revenue_cents: 0 };
    return el('tr', {}, [
      el('td', { text: tier.name }),
      el('td', { class: 'num', text: money(tier.price_cents, event.currency) }),
      el('td', { class: 'num', text: number(sold.tickets) }),
      el('td', { class: 'num', text: money(sold.revenue_cents, event.currency) }),
    ]);
  });
  rows.push(el('tr', {}, [el('th', { text: t('admin.total') }), el('td', {}), el('td', {}), el('th', { class: 'num', text: money(total, event.currency) })]));
  $('tiers').replaceChildren(el('thead', {}, [head]), el('tbody', {}, rows));
}

/** Tickets let in, in all and door by door (the stats' `checkins`). */
function renderDoors(checkins) {
  $('s-let-in').textContent = number(checkins.total);
  const doors = Object.entries(checkins.by_door);
  if (doors.length === 0) {
    $('doors').replaceChildren(el('caption', { class: 'small muted', text: t('admin.doors.none') }));
    return;
  }
  const head = el('tr', {}, [el('th', { text: t('admin.door') }), el('th', { class: 'num', text: t('admin.let_in') })]);
  const rows = doors.map(([door, n]) => el('tr', {}, [el('td', { text: door }), el('td', { class: 'num', text: number(n) })]));
  $('doors').replaceChildren(el('thead', {}, [head]), el('tbody', {}, rows));
}

async function patchRoom(body) {
  try {
    const answer = await adminApi('PATCH', '/v1/events/' + encodeURIComponent(admin.eventId) + '/room', { body });
    if (answer.status !== 200) throw new Error(apiError(answer).message);
    problem('');
    const room = answer.body;
    if ('paused' in body) message(room.paused ? t('admin.paused_now') : t('admin.resumed_now'));
    else message(t('admin.applied', { rate: number(room.admit_per_minute), max: number(room.max_active) }));
    await refresh();
  } catch (error) {
    problem(failure(error));
  }
}

// ---- orders ----

async function loadOrders(fresh) {
  const id = admin.eventId;
  if (fresh) {
    admin.orders = [];
    admin.next = null;
  }
  const query = new URLSearchParams({ limit: '100' });
  if (admin.next) query.set('after', admin.next);
  const needle = $('order-search').value.trim();
  if (needle) query.set('q', needle);
  try {
    const answer = await adminApi('GET', '/v1/events/' + encodeURIComponent(id) + '/orders?' + query);
    if (answer.status !== 200) throw new Error(apiError(answer).message);
    if (id !== admin.eventId || needle !== $('order-search').value.trim()) return;
    admin.orders.push(...answer.body.orders);
    admin.next = answer.body.next;
    renderOrders();
  } catch (error) {
    problem(failure(error));
  }
}

function ticketsText(order) {
  return order.tickets.map((ticket) => (ticket.row === undefined ? ticket.section : ticket.section + '-' + ticket.row + '-' + ticket.number)).join(', ');
}

/** The server searches every order (id, payment reference, places, the buyer's email and name). */
function searchOrders() {
  clearTimeout(admin.searchTimer);
  admin.searchTimer = setTimeout(() => loadOrders(true), 300);
}

/** The orders shown (the search's, if any) as a CSV file, fetched with the token. */
async function downloadCsv() {
  const query = new URLSearchParams({ format: 'csv' });
  const needle = $('order-search').value.trim();
  if (needle) query.set('q', needle);
  try {
    const response = await fetch('/v1/events/' + encodeURIComponent(admin.eventId) + '/orders?' + query, {
      headers: { Authorization: 'Bearer ' + token() },
    });
    if (response.status !== 200) throw new Error(t('admin.orders.csv_failed', { status: response.status }));
    const link = el('a', { href: URL.createObjectURL(await response.blob()), download: admin.eventId + '-orders.csv' });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  } catch (error) {
    problem(failure(error));
  }
}

function renderOrders() {
  const shown = admin.orders;
  const head = el('tr', {}, ['admin.order.id', 'admin.order.created', 'admin.order.tickets', 'admin.order.total', 'admin.order.status', 'admin.order.payment', null]
    .map((key) => el('th', { text: key ? t(key) : '' })));
  const rows = shown.map((order) => el('tr', {}, [
    el('td', { text: order.order_id }),
    el('td', { text: dateTime(order.created_at) }),
    el('td', { text: ticketsText(order) }),
    el('td', { class: 'num', text: money(order.total_cents, order.currency) }),
    el('td', { text: t('admin.order.' + order.status) }),
    el('td', { text: order.payment_ref }),
    el('td', {}, [order.status === 'confirmed'
      ? el('button', { type: 'button', class: 'danger', text: t('admin.order.cancel'), onclick: () => cancelOrder(order) })
      : null]),
  ]));
  $('orders').replaceChildren(el('thead', {}, [head]), el('tbody', {}, rows));
  $('orders-count').textContent = admin.orders.length ? t('admin.orders.count', { n: shown.length }) : t('admin.orders.none');
  $('orders-more').hidden = !admin.next;
}

async function cancelOrder(order) {
  if (!confirm(t('admin.order.cancel.confirm', { id: order.order_id }))) return;
  try {
    const answer = await adminApi('POST', '/v1/orders/' + encodeURIComponent(order.order_id) + '/cancel');
    if (answer.status !== 200) throw new Error(apiError(answer).message);
    Object.assign(order, answer.body);
    renderOrders();
    await refresh();
  } catch (error) {
    problem(failure(error));
  }
}

// ---- creating an event ----

/** A `datetime-local` value for an instant, in the promoter's time zone. */
function localInput(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

const SAMPLE_LAYOUT = {
  tiers: [
    { id: 'parterre', name: 'Parterre', price_cents: 8950 },
    { id: 'balcon', name: 'Balcon', price_cents: 5950 },
  ],
  sections: [
    { id: 'A', name: 'Parterre A', tier: 'parterre', rows: [{ id: '1', seats: 20 }, { id: '2', seats: 22 }] },
    { id: 'B', name: 'Balcon', tier: 'balcon', capacity: 200 },
  ],
};

function showCreate() {
  clearTimeout(admin.timer);
  problem('');
  message('');
  admin.eventId = null;
  history.replaceState(null, '', '#new');
  $('dashboard').hidden = true;
  $('create').hidden = false;
  if (!$('f-layout').value) {
    $('f-layout').value = JSON.stringify(SAMPLE_LAYOUT, null, 2);
    const inAnHour = new Date(Date.now() + 3600 * 1000).toISOString();
    const inAMonth = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
    $('f-on-sale').value = localInput(inAnHour);
    $('f-starts').value = localInput(inAMonth);
  }
  $('template').parentElement.parentElement.hidden = admin.events.length === 0;
  $('f-id').focus();
}

async function copyTemplate() {
  const id = $('template').value;
  if (!id) return;
  try {
    const answer = await api('GET', '/v1/events/' + encodeURIComponent(id));
    if (answer.status !== 200) throw new Error(apiError(answer).message);
    const e = answer.body;
    $('f-id').value = (e.id + '-copy').slice(0, 64);
    $('f-name').value = e.name;
    $('f-venue').value = e.venue;
    $('f-starts').value = localInput(e.starts_at);
    $('f-on-sale').value = localInput(e.on_sale_at);
    $('f-currency').value = e.currency;
    $('f-limit').value = e.per_buyer_limit;
    $('f-hold').value = e.hold_ttl_s;
    $('f-rate').value = e.room.admit_per_minute;
    $('f-max').value = e.room.max_active;
    $('f-access').value = e.room.access_ttl_s;
    $('f-payment').value = e.payment ? e.payment.provider : '';
    const layout = { tiers: e.tiers, sections: e.sections };
    if (e.hall) layout.hall = e.hall;
    $('f-layout').value = JSON.stringify(layout, null, 2);
    $('f-id').focus();
  } catch (error) {
    problem(failure(error));
  }
}

async function createEvent() {
  const errors = $('create-errors');
  errors.replaceChildren();
  let layout;
  try {
    layout = JSON.parse($('f-layout').value);
  } catch (error) {
    problem(t('admin.invalid', { message: error.message }));
    $('f-layout').focus();
    return;
  }
  const toIso = (value) => new Date(value).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const spec = {
    id: $('f-id').value.trim(),
    name: $('f-name').value.trim(),
    venue: $('f-venue').value.trim(),
    starts_at: toIso($('f-starts').value),
    on_sale_at: toIso($('f-on-sale').value),
    currency: $('f-currency').value.trim().toUpperCase(),
    tiers: layout.tiers,
    sections: layout.sections,
    per_buyer_limit: Number($('f-limit').value),
    hold_ttl_s: Number($('f-hold').value),
    room: { admit_per_minute: Number($('f-rate').value), max_active: Number($('f-max').value), access_ttl_s: Number($('f-access').value) },
  };
  if ($('f-payment').value) spec.payment = { provider: $('f-payment').value };
  if (layout.hall) spec.hall = layout.hall;
  try {
    const answer = await adminApi('POST', '/v1/events', { body: spec });
    if (answer.status !== 201) {
      const error = apiError(answer);
      problem(t('admin.invalid', { message: error.message }));
      for (const item of error.raw.errors || []) errors.append(el('li', { text: (item.field ? item.field + ': ' : '') + (item.message || '') }));
      return;
    }
    await loadEvents();
    await openDashboard(spec.id);
    message(t('admin.created', { id: spec.id }));
  } catch (error) {
    problem(failure(error));
  }
}

// ---- staff tokens (admin only: the section stays hidden for other roles) ----

async function loadTokens() {
  const answer = await api('GET', '/v1/tokens', { token: token() });
  $('tokens').hidden = answer.status !== 200;
  admin.tokens = answer.status === 200 ? answer.body.tokens : null;
  renderTokens();
}

function tokenState(item) {
  if (item.revoked_at) return t('admin.k.revoked', { when: dateTime(item.revoked_at) });
  if (item.expires_at && new Date(item.expires_at) <= new Date()) return t('admin.k.expired');
  return item.expires_at ? t('admin.k.until', { when: dateTime(item.expires_at) }) : t('admin.k.active');
}

function renderTokens() {
  if (!admin.tokens) return;
  const head = el('tr', {}, ['admin.k.id', 'admin.k.role', 'admin.k.events.column', 'admin.k.label.column', 'admin.k.created', 'admin.k.state', null]
    .map((key) => el('th', { text: key ? t(key) : '' })));
  const rows = admin.tokens.map((item) => el('tr', {}, [
    el('td', { text: item.token_id }),
    el('td', { text: item.role }),
    el('td', { text: item.events.join(', ') || '–' }),
    el('td', { text: item.label }),
    el('td', { text: dateTime(item.created_at) + ' (' + item.created_by + ')' }),
    el('td', { text: tokenState(item) }),
    el('td', {}, [item.revoked_at ? null
      : el('button', { type: 'button', class: 'danger', text: t('admin.k.revoke'), onclick: () => revokeToken(item) })]),
  ]));
  $('token-list').replaceChildren(el('thead', {}, [head]), el('tbody', {}, rows));
}

async function createToken() {
  problem('');
  const events = $('k-events').value.split(',').map((id) => id.trim()).filter((id) => id);
  const body = { role: $('k-role').value, label: $('k-label').value.trim() };
  if (events.length) body.events = events;
  if ($('k-expires').value) body.expires_at = new Date($('k-expires').value).toISOString().replace(/\.\d{3}Z$/, 'Z');
  try {
    const answer = await adminApi('POST', '/v1/tokens', { body });
    if (answer.status !== 201) throw new Error(apiError(answer).message);
    $('token-text').textContent = answer.body.token;
    $('token-made').hidden = false;
    $('token-create').reset();
    await loadTokens();
  } catch (error) {
    problem(failure(error));
  }
}

async function revokeToken(item) {
  if (!confirm(t('admin.k.revoke.confirm', { id: item.token_id, label: item.label }))) return;
  try {
    const answer = await adminApi('DELETE', '/v1/tokens/' + encodeURIComponent(item.token_id));
    if (answer.status !== 204) throw new Error(apiError(answer).message);
    $('token-made').hidden = true;
    message(t('admin.k.revoked.done', { id: item.token_id }));
    await loadTokens();
  } catch (error) {
    problem(failure(error));
  }
}

// ---- start ----

document.addEventListener('DOMContentLoaded', () => {
  setupLanguage(() => {
    renderDashboard();
    renderTokens();
    if (admin.eventId) renderOrders();
  });
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    session.set(TOKEN_KEY, $('token').value.trim());
    problem('');
    signedIn();
  });
  $('signout').addEventListener('click', signOut);
  $('choose').addEventListener('submit', (e) => { e.preventDefault(); if ($('event-select').value) openDashboard($('event-select').value); });
  $('new-event').addEventListener('click', showCreate);
  $('controls').addEventListener('submit', (e) => {
    e.preventDefault();
    patchRoom({ admit_per_minute: Number($('c-rate').value), max_active: Number($('c-max').value) });
  });
  $('c-pause').addEventListener('click', () => patchRoom({ paused: $('c-pause').dataset.paused !== 'true' }));
  $('order-search').addEventListener('input', searchOrders);
  $('orders-csv').addEventListener('click', downloadCsv);
  $('orders-refresh').addEventListener('click', () => loadOrders(true));
  $('orders-more').addEventListener('click', () => loadOrders(false));
  $('template-use').addEventListener('click', copyTemplate);
  $('create').addEventListener('submit', (e) => { e.preventDefault(); createEvent(); });
  $('token-create').addEventListener('submit', (e) => { e.preventDefault(); createToken(); });
  if (token()) signedIn();
  else signOut();
});
