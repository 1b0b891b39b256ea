// The buyer's page (`/e/{event_id}`): the countdown and lobby, the queue
// (position, people ahead, ETA, progress, polled as the server asks), then
// for the admitted buyer the seat map, best available, the hold with its
// countdown, the checkout (a test purchase, the test provider's page, or
// Stripe's card form: card.js), and the e-tickets with their QR codes.
//
// Everything the buyer needs to come back is kept in localStorage under
// `guichet.e.<event id>`: the queue token, when the next poll is allowed,
// the access token, the hold, the purchase's idempotency key, and the order
// (so the tickets still show after the access token has expired).
'use strict';

const VIEWS = ['v-loading', 'v-missing', 'v-intro', 'v-queue', 'v-seats', 'v-checkout', 'v-done'];
/** Stall reasons the page explains in words (newer ones are shown as a plain wait). */
const REASONS = ['waiting_for_released_seats', 'max_active_reached'];
/** How often the seat map is refreshed while the buyer chooses (±20%). */
const SEAT_REFRESH_MS = 15000;

const page = {
  id: decodeURIComponent(location.pathname.replace(/^\/e\//, '').replace(/\/$/, '')),
  event: null,
  view: 'v-loading',
  status: null, // the last queue status
  seats: null, // the last seat map
  selected: new Map(), // "section|row|number" -> seat
  pollTimer: null,
  announcedAt: 0,
  announcedState: null,
  busy: false,
};

// ---- what is kept in the browser ----

function storeKey() {
  return 'guichet.e.' + page.id;
}

function kept() {
  return local.getJson(storeKey()) || {};
}

function keep(changes) {
  const next = Object.assign(kept(), changes);
  for (const [key, value] of Object.entries(changes)) if (value === undefined) delete next[key];
  local.setJson(storeKey(), next);
  return next;
}

function hasAccess() {
  const state = kept();
  return Boolean(state.accessToken) && Date.parse(state.accessExpiresAt) > Date.now();
}

// ---- showing things ----

function show(view) {
  const changed = page.view !== view;
  page.view = view;
  showOnly(VIEWS, view);
  // Moving on: the new step's heading gets the focus, for keyboards and screen readers.
  const heading = $(view).querySelector('h1, h2');
  if (changed && heading && page.event) heading.focus({ preventScroll: false });
  $('event-head').hidden = !page.event;
  $('faq').hidden = !page.event || view === 'v-done';
}

function problem(text) {
  $('problem').textContent = text || '';
  $('problem').hidden = !text;
}

function networkOrMessage(error) {
  return error instanceof TypeError ? t('error.network') : t('error.generic', { message: error.message });
}

function eventState() {
  // The state as of now, even if the event was loaded before the opening.
  const event = page.event;
  if (event.state === 'scheduled' && Date.parse(event.on_sale_at) <= Date.now()) return 'on_sale';
  return event.state;
}

function renderHead() {
  const event = page.event;
  document.title = event.name + ' — Guichet';
  $('event-name').textContent = event.name;
  $('event-venue').textContent = event.venue;
  const state = eventState();
  $('event-state').className = 'badge ' + state;
  $('event-state').textContent = t('state.' + state);
  $('event-starts').textContent = t('event.starts', { when: dateTime(event.starts_at) });
  $('event-on-sale').textContent = t('event.on_sale', { when: dateTime(event.on_sale_at) });
  $('faq-limit').textContent = t('faq.limit.a', { n: event.per_buyer_limit });
}

function tierOf(id) {
  return page.event.tiers.find((tier) => tier.id === id) || { id, name: id, price_cents: 0 };
}

function sectionOf(id) {
  return page.event.sections.find((section) => section.id === id) || { id, name: id };
}

function placeText(ticket) {
  const section = sectionOf(ticket.section).name;
  return ticket.row === undefined
    ? t('ticket.ga', { section })
    : t('ticket.seat', { section, row: ticket.row, number: ticket.number });
}

// ---- intro: before joining ----

function renderIntro() {
  const state = eventState();
  const closed = state === 'sold_out' || state === 'closed';
  $('intro-countdown').hidden = state !== 'scheduled';
  $('intro-closed').hidden = !closed;
  $('intro-closed').textContent = closed ? t(state === 'sold_out' ? 'event.sold_out' : 'event.closed') : '';
  $('intro-note').hidden = closed;
  $('intro-note').textContent = t(state === 'scheduled' ? 'event.join.note' : 'event.join.note.open');
  $('intro-limit').textContent = t('event.limit', { n: page.event.per_buyer_limit });
  $('join').hidden = closed;
  $('join').textContent = t(state === 'scheduled' ? 'event.join.lobby' : 'event.join');
}

async function join() {
  if (page.busy) return;
  page.busy = true;
  $('join').disabled = true;
  // Kept until the join is answered: retrying after a lost answer finds the
  // same place instead of taking a second one (16 random bytes: 128 bits).
  const joinKey = kept().joinKey || randomHex(16);
  keep({ joinKey });
  try {
    const answer = await api('POST', '/v1/events/' + encodeURIComponent(page.id) + '/queue', {
      headers: { 'Idempotency-Key': joinKey },
    });
    if (answer.status === 201 || answer.status === 200) {
      problem('');
      keep({ joinKey: undefined, queueToken: answer.body.queue_token, firstPosition: undefined });
      await reloadEvent();
      show('v-queue');
      await follow(answer.body.status);
    } else if (answer.status === 409 || answer.status === 404) {
      await reloadEvent();
      renderIntro();
      problem(apiError(answer).message);
    } else {
      problem(t('error.generic', { message: apiError(answer).message }));
    }
  } catch (error) {
    problem(networkOrMessage(error));
  } finally {
    page.busy = false;
    $('join').disabled = false;
  }
}

// ---- the queue ----

function schedulePoll() {
  clearTimeout(page.pollTimer);
  const wait = Math.max(0, (kept().nextPollAt || 0) - Date.now());
  page.pollTimer = setTimeout(poll, wait);
}

async function poll() {
  const state = kept();
  if (!state.queueToken) return;
  let answer;
  try {
    answer = await api('GET', '/v1/events/' + encodeURIComponent(page.id) + '/queue/status', { token: state.queueToken });
  } catch (error) {
    problem(networkOrMessage(error));
    keep({ nextPollAt: Date.now() + 5000 });
    schedulePoll();
    return;
  }
  problem('');
  if (answer.status === 200) {
    await follow(answer.body);
  } else if (answer.status === 429) {
    keep({ nextPollAt: Date.now() + (answer.retryAfterS || 2) * 1000 });
    schedulePoll();
  } else if (answer.status === 401 || answer.status === 403 || answer.status === 404) {
    // The place is gone (the event started, or the token is not valid): start over.
    keep({ queueToken: undefined });
    renderStatus({ state: 'expired' });
  } else {
    problem(t('error.generic', { message: apiError(answer).message }));
    keep({ nextPollAt: Date.now() + (answer.retryAfterS || 5) * 1000 });
    schedulePoll();
  }
}

/**
 * Acts on a place's status, from the join or a poll: a join can be admitted at
 * once, and then the shop opens now, not at the next poll (an admitted status
 * asks for no poll for 20 s, which may be the whole shopping time).
 */
async function follow(status) {
  keep({ nextPollAt: Date.now() + status.poll_after_ms });
  renderStatus(status);
  const s = status.state;
  if (s === 'admitted') {
    keep({ accessToken: status.access_token, accessExpiresAt: status.access_expires_at });
    await enterShop();
  } else if (s !== 'closed' && s !== 'left' && s !== 'expired') {
    schedulePoll();
  } else {
    keep({ queueToken: undefined });
  }
}

function renderStatus(status) {
  page.status = status;
  if (status.state !== 'admitted') keep({ lastStatus: status });
  const s = status.state === 'waiting_unknown' ? 'waiting' : status.state;
  if (status.state === 'waiting_unknown') status = { state: 'waiting', position: null, eta_s: 0 };
  const paused = s === 'waiting' && (status.reason === 'paused' || status.eta_s === null || status.eta_s === undefined);
  const text = paused ? t('queue.state.paused') : t('queue.state.' + s);
  const box = $('queue-state');
  box.textContent = text;
  box.className = 'notice' + (s === 'sold_out' || s === 'closed' || s === 'expired' || s === 'left' ? ' bad' : s === 'admitted' ? ' ok' : '');
  $('queue-countdown').hidden = s !== 'lobby';
  const waiting = s === 'waiting';
  $('queue-figures').hidden = !waiting;
  $('queue-progress-box').hidden = !waiting;
  $('queue-warning').hidden = !(waiting && status.sold_out_likely);
  // Why the line is not moving (paused says so in the state line above).
  const stalled = waiting && !paused && REASONS.includes(status.reason);
  $('queue-reason').hidden = !stalled;
  $('queue-reason').textContent = stalled ? t('queue.reason.' + status.reason) : '';
  const over = s === 'closed' || s === 'left' || s === 'expired';
  $('leave').hidden = over || s === 'admitted';
  $('rejoin').hidden = !(s === 'left' || s === 'expired') || eventState() === 'closed';
  if (waiting && status.position === null) {
    $('queue-figures').hidden = true;
    $('queue-progress-box').hidden = true;
  } else if (waiting) {
    const first = Math.max(kept().firstPosition || 0, status.position);
    keep({ firstPosition: first });
    $('q-position').textContent = String(status.position);
    $('q-ahead').textContent = String(status.ahead);
    $('q-eta').textContent = paused ? t('queue.eta.unknown') : '≈ ' + duration(status.eta_s);
    const progress = $('queue-progress');
    progress.max = first;
    progress.value = first - status.position;
    progress.setAttribute('aria-valuetext', status.position + ' / ' + first);
  }
  $('queue-updated').textContent = t('queue.updated', { when: timeOnly(new Date()) });
  announce(status, text);
}

/** Tells screen readers of a change of state at once, and of the position now and then. */
function announce(status, text) {
  const now = Date.now();
  const changed = status.state !== page.announcedState;
  if (!changed && now - page.announcedAt < 20000) return;
  page.announcedState = status.state;
  page.announcedAt = now;
  let words = text;
  if (status.state === 'waiting') {
    const eta = status.eta_s === null || status.eta_s === undefined ? t('queue.eta.unknown') : duration(status.eta_s);
    words += ' ' + t('queue.announce', { position: status.position, ahead: status.ahead, eta });
  }
  $('queue-live').textContent = words;
}

async function leave() {
  if (!confirm(t('queue.leave.confirm'))) return;
  const token = kept().queueToken;
  clearTimeout(page.pollTimer);
  try {
    const answer = await api('DELETE', '/v1/events/' + encodeURIComponent(page.id) + '/queue', { token });
    if (answer.status !== 204 && answer.status !== 401) throw new Error(apiError(answer).message);
    keep({ queueToken: undefined, nextPollAt: undefined, firstPosition: undefined });
    renderStatus({ state: 'left' });
  } catch (error) {
    problem(networkOrMessage(error));
    schedulePoll();
  }
}

// ---- seats ----

async function enterShop() {
  clearTimeout(page.pollTimer);
  const hold = kept().hold;
  if (hold && Date.parse(hold.expires_at) > Date.now()) {
    showCheckout();
    return;
  }
  keep({ hold: undefined });
  show('v-seats');
  renderAccess();
  renderBestForm();
  await loadSeats();
  scheduleSeatRefresh();
}

/** While the buyer chooses, the map follows what others hold and buy. */
function scheduleSeatRefresh() {
  clearTimeout(page.seatTimer);
  page.seatTimer = setTimeout(async () => {
    if (page.view !== 'v-seats' || !hasAccess()) return;
    if (!page.busy) await loadSeats(true);
    scheduleSeatRefresh();
  }, SEAT_REFRESH_MS * (0.8 + Math.random() * 0.4));
}

function renderAccess() {
  $('seats-access').textContent = t('seats.access', { when: timeShort(new Date(kept().accessExpiresAt)) });
}

/** The access has ended: back to the start, with a word of why. */
function accessOver() {
  keep({ accessToken: undefined, accessExpiresAt: undefined, hold: undefined, queueToken: undefined });
  show('v-intro');
  renderIntro();
  problem(t('seats.access_over'));
}

/**
 * The seat map, and the hall to draw it on (once); `quietly` (a refresh)
 * keeps the last map on a failure and says nothing. Without the drawing the
 * section, row and seat lists still work.
 */
async function loadSeats(quietly) {
  const drawing = loadHall().then(() => null, (error) => error);
  try {
    const answer = await api('GET', '/v1/events/' + encodeURIComponent(page.id) + '/seats', { token: kept().accessToken });
    if (answer.status === 401) return accessOver();
    if (answer.status === 200) page.seats = answer.body;
    else if (!quietly) problem(apiError(answer).message);
  } catch (error) {
    if (!quietly) problem(networkOrMessage(error));
  }
  const failed = await drawing;
  if (failed && !quietly) problem(networkOrMessage(failed));
  renderMap();
}

function renderBestForm() {
  const quantity = $('best-quantity');
  const previous = quantity.value || '2';
  quantity.replaceChildren();
  const most = Math.min(page.event.per_buyer_limit, 20);
  for (let n = 1; n <= most; n++) quantity.append(el('option', { value: String(n), text: String(n) }));
  quantity.value = String(Math.min(Number(previous), most));
  const where = $('best-where');
  const previousWhere = where.value;
  where.replaceChildren();
  for (const tier of page.event.tiers) {
    where.append(el('option', { value: 'tier:' + tier.id, text: t('seats.tier', { name: tier.name, price: money(tier.price_cents, page.event.currency) }) }));
  }
  for (const section of page.event.sections) {
    where.append(el('option', { value: 'section:' + section.id, text: t('seats.section', { name: section.name }) }));
  }
  if (previousWhere) where.value = previousWhere;
  showAccessibleChoice();
  $('best-submit').textContent = t('seats.best.submit', { n: quantity.value });
}

function seatKey(section, row, number) {
  return section + '|' + row + '|' + number;
}

function renderMap() {
  renderLegend();
  if (hall.drawing) renderHall();
  else paintHall();
}

/** The tiers' colours and prices, and the seats' states and kinds. */
function renderLegend() {
  const swatch = (cls) => el('span', { class: 'swatch ' + cls });
  const entries = page.event.tiers.map((tier) => el('span', {}, [swatch('free ' + tierClass(tier.id)), tier.name + ' ' + money(tier.price_cents, page.event.currency)]));
  entries.push(el('span', {}, [swatch('taken'), t('seats.legend.taken')]));
  entries.push(el('span', {}, [swatch('selected'), t('seats.legend.selected')]));
  if (hasFlaggedSeats()) {
    entries.push(el('span', {}, [swatch('shape-accessible'), t('hall.accessible')]));
    entries.push(el('span', {}, [swatch('shape-companion'), t('hall.companion')]));
  }
  $('legend').replaceChildren(...entries);
}

/** Accessible seats can be asked for where there are some: not in general admission. */
function showAccessibleChoice() {
  const [kind, id] = $('best-where').value.split(/:(.*)/s);
  const section = kind === 'section' && page.event.sections.find((s) => s.id === id);
  const hidden = !hasFlaggedSeats() || Boolean(section && !section.rows);
  $('best-accessible-field').hidden = hidden;
  if (hidden) $('best-accessible').checked = false;
}

function hasFlaggedSeats() {
  return page.event.sections.some((section) => (section.rows || []).some((row) => (row.accessible || []).length || (row.companion || []).length));
}

function toggleSeat(key, seat) {
  if (page.selected.has(key)) {
    page.selected.delete(key);
  } else if (page.selected.size >= page.event.per_buyer_limit) {
    problem(t('seats.too_many', { n: page.event.per_buyer_limit }));
    return;
  } else {
    page.selected.set(key, seat);
  }
  problem('');
  paintHall();
}

function renderHoldButton() {
  const n = page.selected.size;
  $('hold-selected').disabled = n === 0;
  $('hold-selected').textContent = n === 0 ? t('seats.none_selected') : t('seats.hold_selected', { n });
}

async function placeHold(body) {
  if (page.busy) return;
  page.busy = true;
  // The same request again (a retry after a lost answer) reuses its key and
  // finds the hold it made; another request gets a new key.
  const wanted = JSON.stringify(body);
  let attempt = kept().holdAttempt;
  if (!attempt || attempt.body !== wanted) attempt = { body: wanted, key: 'h-' + randomHex(16) };
  keep({ holdAttempt: attempt });
  try {
    const answer = await api('POST', '/v1/events/' + encodeURIComponent(page.id) + '/holds', {
      token: kept().accessToken,
      headers: { 'Idempotency-Key': attempt.key },
      body,
    });
    if (answer.status === 201 || answer.status === 200) {
      page.selected.clear();
      problem('');
      keep({ hold: answer.body, purchase: undefined, holdAttempt: undefined });
      showCheckout();
      return;
    }
    const error = apiError(answer);
    if (answer.status === 401) return accessOver();
    if (error.code === 'seats_unavailable') {
      const names = (error.raw.seats || []).map(placeText).join('; ');
      for (const seat of error.raw.seats || []) page.selected.delete(seatKey(seat.section, seat.row, seat.number));
      problem(t('seats.unavailable', { seats: names }));
    } else if (error.code === 'over_buyer_limit' || error.code === 'bad_quantity') {
      problem(t('seats.over_limit', { n: page.event.per_buyer_limit }));
    } else if (error.code === 'not_enough_available') {
      problem(t('seats.not_enough'));
    } else {
      problem(t('error.generic', { message: error.message }));
    }
    await loadSeats();
  } catch (error) {
    problem(networkOrMessage(error));
  } finally {
    page.busy = false;
  }
}

// ---- checkout ----

function showCheckout() {
  const hold = kept().hold;
  show('v-checkout');
  const rows = hold.tickets.map((ticket) => el('tr', {}, [
    el('td', { text: placeText(ticket) }),
    el('td', { text: tierOf(ticket.tier).name }),
    el('td', { class: 'num', text: money(ticket.price_cents, hold.currency) }),
  ]));
  rows.push(el('tr', {}, [
    el('th', { text: t('checkout.total'), colspan: '2' }),
    el('th', { class: 'num', text: money(hold.total_cents, hold.currency) }),
  ]));
  $('hold-tickets').replaceChildren(...rows);
  $('pay-submit').textContent = t('checkout.pay', { total: money(hold.total_cents, hold.currency) });
  $('pay-name').value = kept().name || '';
  // Kept (encrypted) only for a paid event's checkout.
  $('pay-email-field').hidden = !page.event.payment;
  $('pay-email').value = '';
  $('pay').querySelector('.notice').textContent =
    t(!page.event.payment ? 'checkout.test' : paidByCard() ? 'checkout.paid_card' : 'checkout.paid_test');
  $('card-box').hidden = !cardFormPays(cardPaymentOf(hold));
  tick();
}

function paidByCard() {
  return Boolean(page.event.payment) && page.event.payment.provider === 'stripe';
}

/** The payment under way for `hold`, if its card form can pay it. */
function cardPaymentOf(hold) {
  const payment = kept().payment;
  return payment && hold && payment.hold_id === hold.hold_id ? payment.payment_id : '';
}

/** The pay button while a purchase or checkout is under way, or back to its total. */
function payButtonBusy(busy, hold) {
  page.busy = busy;
  $('pay-submit').disabled = busy;
  if (busy) $('pay-submit').textContent = t('checkout.paying');
  else if (page.view === 'v-checkout') $('pay-submit').textContent = t('checkout.pay', { total: money(hold.total_cents, hold.currency) });
}

/** A purchase or checkout refused: the hold is gone (back to the seats, `forget` cleared), the access is over, or the server says why. */
async function payRefused(answer, error, forget) {
  if (answer.status === 410 || error.code === 'hold_not_active' || error.code === 'payment_not_pending') {
    keep(forget);
    await enterShop();
    problem(t('checkout.expired'));
    return;
  }
  if (answer.status === 401) return accessOver();
  problem(t('error.generic', { message: error.message }));
}

async function pay() {
  if (page.busy) return;
  if (page.event.payment) {
    return cardFormPays(cardPaymentOf(kept().hold)) ? payByCard() : checkout();
  }
  const hold = kept().hold;
  // One key per hold, kept: a retry after a reload or a lost answer returns the same order.
  let purchase = kept().purchase;
  if (!purchase || purchase.holdId !== hold.hold_id) {
    purchase = { holdId: hold.hold_id, key: 'k-' + randomHex(16), paymentRef: 'test-' + randomHex(12) };
  }
  keep({ purchase, name: $('pay-name').value.trim() });
  payButtonBusy(true, hold);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      const answer = await api('POST', '/v1/holds/' + encodeURIComponent(hold.hold_id) + '/purchase', {
        token: kept().accessToken,
        headers: { 'Idempotency-Key': purchase.key },
        body: { payment_ref: purchase.paymentRef },
      });
      if (answer.status === 201 || answer.status === 200) {
        keep({ order: answer.body, hold: undefined, purchase: undefined });
        showDone();
        return;
      }
      const error = apiError(answer);
      if (error.code === 'idempotency_key_in_flight' || answer.status === 503) {
        await sleep((answer.retryAfterS || 1) * 1000);
        continue;
      }
      return await payRefused(answer, error, { hold: undefined, purchase: undefined });
    }
  } catch (error) {
    problem(networkOrMessage(error));
  } finally {
    payButtonBusy(false, hold);
  }
}

/** A paid event: start the payment, then go to the provider's page (the test page). */
async function checkout() {
  const hold = kept().hold;
  const name = $('pay-name').value.trim();
  const email = $('pay-email').value.trim();
  // The address is not kept in the browser: it goes to the server alone.
  keep({ name });
  const body = {};
  if (name) body.name = name;
  if (email) body.email = email;
  payButtonBusy(true, hold);
  try {
    const answer = await api('POST', '/v1/holds/' + encodeURIComponent(hold.hold_id) + '/checkout', {
      token: kept().accessToken,
      body,
    });
    if (answer.status === 200) {
      // The payment under way extends the hold: the countdown follows.
      const extended = answer.body.hold_expires_at ? { expires_at: answer.body.hold_expires_at } : {};
      keep({
        payment: answer.body.payment,
        paymentToken: answer.body.payment_token,
        hold: Object.assign({}, hold, extended),
      });
      if (answer.body.redirect_url) {
        location.assign(answer.body.redirect_url + '?e=' + encodeURIComponent(page.id));
        return;
      }
      if (answer.body.client_secret && answer.body.publishable_key) return await showCardForm(answer.body);
      problem(t('checkout.provider'));
      return;
    }
    return await payRefused(answer, apiError(answer), { hold: undefined, payment: undefined });
  } catch (error) {
    problem(networkOrMessage(error));
  } finally {
    payButtonBusy(false, hold);
  }
}

/** Stripe's card form for a checkout's answer, in the checkout view. */
async function showCardForm(answer) {
  try {
    await cardFormShow(answer, $('card-element'));
  } catch (error) {
    problem(t('checkout.card_unavailable'));
    return;
  }
  problem('');
  $('card-status').hidden = true;
  $('card-box').hidden = false;
  $('card-element').focus();
}

/** The card form filled: Stripe confirms the payment; the provider's word makes the order. */
async function payByCard() {
  const hold = kept().hold;
  payButtonBusy(true, hold);
  problem('');
  try {
    const result = await cardFormConfirm(location.origin + '/e/' + encodeURIComponent(page.id));
    if (result.error) {
      problem(t('checkout.card_refused', { message: result.error }));
      return;
    }
    await awaitOrder();
  } catch (error) {
    problem(networkOrMessage(error));
  } finally {
    payButtonBusy(false, kept().hold || hold);
  }
}

/**
 * After a card payment (here, or back from the bank's page): the order comes
 * with the provider's confirmation, so the hold is followed until it is
 * purchased, every second for two minutes.
 */
async function awaitOrder() {
  $('card-status').textContent = t('checkout.confirming');
  $('card-status').hidden = false;
  for (let attempt = 0; attempt < 120; attempt++) {
    if (!kept().hold) return;
    if (await followPayment().catch(() => false)) {
      cardFormForget($('card-element'));
      return;
    }
    const payment = kept().payment;
    if (payment && (payment.status === 'failed' || payment.status === 'cancelled')) {
      // The provider said no after all: the seats were released.
      cardFormForget($('card-element'));
      keep({ hold: undefined, payment: undefined });
      await enterShop();
      problem(t('checkout.card_failed'));
      return;
    }
    await sleep(1000);
  }
  $('card-status').textContent = t('checkout.confirming_slow');
}

/** A read of the hold or its order: with the access token, or once it is refused (the access ran out while paying) with the checkout's payment token. */
async function readPaying(path) {
  const state = kept();
  const answer = await api('GET', path, { token: state.accessToken });
  if (answer.status !== 401 || !state.paymentToken) return answer;
  return api('GET', path, { token: state.paymentToken });
}

/** Back from paying: the hold says whether the payment made the order (or was refunded). */
async function followPayment() {
  const state = kept();
  const answer = await readPaying('/v1/holds/' + encodeURIComponent(state.hold.hold_id));
  if (answer.status !== 200) return false;
  const hold = answer.body;
  if (hold.payment) keep({ payment: hold.payment });
  if (hold.status === 'purchased' && hold.order_id) {
    const order = await readPaying('/v1/orders/' + encodeURIComponent(hold.order_id));
    if (order.status !== 200) return false;
    keep({ order: order.body, hold: undefined });
    showDone();
    return true;
  }
  if (hold.payment && hold.payment.status === 'refunded') {
    keep({ hold: undefined, payment: undefined });
    await enterShop();
    problem(t('checkout.refunded'));
    return true;
  }
  return false;
}

/** The access ran out while paying: follow the payment with its token while the provider may still confirm it. */
async function followPaymentAfterAccess() {
  if (await followPayment().catch(() => false)) return true;
  const state = kept();
  const stillPaying = state.payment && state.payment.status === 'pending' && state.hold
    && Date.now() < Date.parse(state.hold.expires_at) + 30 * 60 * 1000;
  if (!stillPaying) {
    keep({ hold: undefined, payment: undefined, paymentToken: undefined });
    return false;
  }
  show('v-loading');
  setTimeout(start, 3000);
  return true;
}

async function release() {
  const hold = kept().hold;
  try {
    const answer = await api('DELETE', '/v1/holds/' + encodeURIComponent(hold.hold_id), { token: kept().accessToken });
    if (answer.status === 401) return accessOver();
    if (answer.status !== 204 && answer.status !== 409 && answer.status !== 410) throw new Error(apiError(answer).message);
    keep({ hold: undefined, purchase: undefined });
    await enterShop();
  } catch (error) {
    problem(networkOrMessage(error));
  }
}

// ---- the tickets ----

function showDone() {
  const order = kept().order;
  show('v-done');
  problem('');
  $('done-thanks').textContent = order.status === 'cancelled' ? t('done.cancelled') : t('done.thanks', { order: order.order_id });
  $('done-thanks').className = 'notice ' + (order.status === 'cancelled' ? 'bad' : 'ok');
  const name = kept().name;
  const cards = order.tickets.map((ticket, index) => el('article', { class: 'card ticket' }, [
    el('h3', { text: t('done.ticket', { n: index + 1, total: order.tickets.length }) }),
    el('p', {}, [el('strong', { text: page.event.name })]),
    el('p', { class: 'small', text: page.event.venue + ' — ' + dateTime(page.event.starts_at) }),
    el('p', { text: placeText(ticket) }),
    el('p', { class: 'small', text: tierOf(ticket.tier).name + ' — ' + money(ticket.price_cents, order.currency) }),
    name ? el('p', { class: 'small', text: name }) : null,
    el('img', { src: '/qr/' + encodeURIComponent(ticket.code), alt: t('done.qr', { n: index + 1 }), width: '240', height: '240', class: 'qr' }),
    el('p', { class: 'code', text: ticket.code }),
  ]));
  $('tickets').replaceChildren(...cards);
  // The order's own page works without this browser's storage, after the access ends.
  $('order-link-box').hidden = !order.order_url;
  if (order.order_url) $('order-link').setAttribute('href', order.order_url);
}

/** While the access lasts, the order's status from the server (the promoter may have cancelled it). */
async function refreshOrder() {
  try {
    const answer = await api('GET', '/v1/orders/' + encodeURIComponent(kept().order.order_id), { token: kept().accessToken });
    if (answer.status === 200) {
      keep({ order: answer.body });
      showDone();
    }
  } catch (error) {
    // The kept copy stays on screen.
  }
}

// ---- time ----

/** Once a second: countdowns, and what happens when they reach zero. */
function tick() {
  if (!page.event) return;
  const now = Date.now();
  const onSale = Date.parse(page.event.on_sale_at);
  if (page.event.state === 'scheduled' && now >= onSale) {
    page.event.state = 'on_sale';
    renderHead();
    if (page.view === 'v-intro') renderIntro();
  }
  if (page.view === 'v-intro') {
    $('intro-clock').textContent = clock(onSale - now);
  } else if (page.view === 'v-queue') {
    $('queue-clock').textContent = clock(onSale - now);
  } else if (page.view === 'v-checkout') {
    const hold = kept().hold;
    if (!hold) return;
    const left = Date.parse(hold.expires_at) - now;
    $('hold-clock').textContent = clock(left);
    if (left <= 0) {
      keep({ hold: undefined, purchase: undefined });
      enterShop().then(() => problem(t('checkout.expired')));
    }
  } else if (page.view === 'v-seats' && !hasAccess()) {
    accessOver();
  }
}

// ---- start ----

async function reloadEvent() {
  const answer = await api('GET', '/v1/events/' + encodeURIComponent(page.id));
  if (answer.status === 404) {
    page.event = null;
    return false;
  }
  if (answer.status !== 200) throw new Error(apiError(answer).message);
  page.event = answer.body;
  renderHead();
  return true;
}

function rerender() {
  if (!page.event) return;
  renderHead();
  if (page.view === 'v-intro') renderIntro();
  if (page.view === 'v-queue' && page.status) renderStatus(page.status);
  if (page.view === 'v-seats') { renderAccess(); renderBestForm(); renderMap(); }
  if (page.view === 'v-checkout') showCheckout();
  if (page.view === 'v-done') showDone();
}

/** Whether Stripe brought the buyer back here (its query), which is then cleared from the address. */
function backFromBank() {
  const query = new URLSearchParams(location.search);
  if (!query.has('payment_intent')) return false;
  history.replaceState(null, '', location.pathname);
  return query.get('redirect_status') !== 'failed';
}

async function start() {
  try {
    if (!(await reloadEvent())) {
      show('v-missing');
      return;
    }
  } catch (error) {
    show('v-loading');
    problem(networkOrMessage(error));
    setTimeout(start, 5000);
    return;
  }
  const state = kept();
  if (state.order) {
    showDone();
    if (hasAccess()) refreshOrder();
  } else if (hasAccess() && backFromBank() && state.hold && state.payment) {
    // Back from the bank's own page: Stripe's redirect names the outcome.
    showCheckout();
    await awaitOrder();
  } else if (hasAccess()) {
    if (!(state.hold && state.payment && (await followPayment().catch(() => false)))) await enterShop();
  } else if (state.hold && state.payment && state.paymentToken && (await followPaymentAfterAccess())) {
    // Followed with the payment token: the order, or still paying.
  } else if (state.queueToken) {
    // The last status seen, until the next poll is allowed.
    show('v-queue');
    const before = Date.now() < Date.parse(page.event.on_sale_at);
    renderStatus(state.lastStatus && !(state.lastStatus.state === 'lobby' && !before) ? state.lastStatus : { state: before ? 'lobby' : 'waiting_unknown' });
    schedulePoll();
  } else {
    if (state.accessToken) keep({ accessToken: undefined, accessExpiresAt: undefined, hold: undefined });
    show('v-intro');
    renderIntro();
  }
  tick();
}

document.addEventListener('DOMContentLoaded', () => {
  setupLanguage(rerender);
  $('join').addEventListener('click', join);
  $('leave').addEventListener('click', leave);
  $('rejoin').addEventListener('click', () => { show('v-intro'); renderIntro(); join(); });
  $('best').addEventListener('submit', (e) => {
    e.preventDefault();
    const [kind, id] = $('best-where').value.split(/:(.*)/s);
    const body = { [kind]: id, quantity: Number($('best-quantity').value) };
    if ($('best-accessible').checked) body.accessible = true;
    placeHold(body);
  });
  $('best-where').addEventListener('change', showAccessibleChoice);
  $('best-quantity').addEventListener('change', () => { $('best-submit').textContent = t('seats.best.submit', { n: $('best-quantity').value }); });
  $('hold-selected').addEventListener('click', () => placeHold({ seats: Array.from(page.selected.values()) }));
  $('pay').addEventListener('submit', (e) => { e.preventDefault(); pay(); });
  $('release').addEventListener('click', release);
  $('print').addEventListener('click', () => window.print());
  setUpHallControls();
  setInterval(tick, 1000);
  start();
});
