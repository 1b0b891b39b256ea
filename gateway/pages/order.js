// The order page, `/o/{order_id}#t=<order token>`: the link a buyer keeps
// (and, later, receives by email). It reads the order with the order token
// from the address's fragment (never sent to the server, so never in its
// logs), then the event, and shows each ticket with its place, price and QR
// code; it prints cleanly and offers the show as a calendar file and the
// tickets as a PDF. It needs
// nothing kept in the browser: a fresh browser, long after the shopping
// time ran out, shows the same tickets.
//
// Cancelling with only this link takes two steps, so a forwarded link is not
// enough: "Cancel my order" has a confirmation emailed to the buyer; its
// link is this page with `&c=<code>` in the fragment, which offers
// "Confirm the cancellation".
'use strict';

const page = { orderId: '', token: '', confirmation: '', order: null, event: null };

function orderIdFromPath() {
  const match = /^\/o\/([^/]+)$/.exec(window.location.pathname);
  return match ? decodeURIComponent(match[1]) : '';
}

function fragment(name) {
  return new URLSearchParams(window.location.hash.replace(/^#/, '')).get(name) || '';
}

function refuse(key) {
  showOnly(['v-loading', 'v-refused', 'v-order'], 'v-refused');
  $('refused-text').textContent = t(key);
}

function problem(text) {
  $('problem').hidden = !text;
  $('problem').textContent = text || '';
}

function sectionName(id) {
  const section = page.event.sections.find((s) => s.id === id);
  return section ? section.name : id;
}

function tierName(id) {
  const tier = page.event.tiers.find((x) => x.id === id);
  return tier ? tier.name : id;
}

function placeText(ticket) {
  const section = sectionName(ticket.section);
  return ticket.row === undefined
    ? t('ticket.ga', { section })
    : t('ticket.seat', { section, row: ticket.row, number: ticket.number });
}

function render() {
  const order = page.order;
  const event = page.event;
  if (!order || !event) return;
  showOnly(['v-loading', 'v-refused', 'v-order'], 'v-order');
  document.title = event.name + ' — ' + order.order_id;
  $('event-name').textContent = event.name;
  $('event-venue').textContent = event.venue;
  $('event-starts').textContent = t('event.starts', { when: dateTime(event.starts_at) });
  $('order-title').textContent = t('order.title', { order: order.order_id });
  const cancelled = order.status === 'cancelled';
  $('order-status').textContent = cancelled ? t('done.cancelled') : t('order.confirmed');
  $('order-status').className = 'notice ' + (cancelled ? 'bad' : 'ok');
  $('order-total').textContent = t('checkout.total') + ': ' + money(order.total_cents, order.currency);
  const orderPath = '/v1/orders/' + encodeURIComponent(order.order_id);
  $('calendar').setAttribute('href', orderPath + '/calendar');
  $('tickets-pdf').setAttribute('href', orderPath + '/tickets.pdf');
  renderCancellation();
  const cards = order.tickets.map((ticket, index) => el('article', { class: 'card ticket' }, [
    el('h3', { text: t('done.ticket', { n: index + 1, total: order.tickets.length }) }),
    el('p', {}, [el('strong', { text: event.name })]),
    el('p', { class: 'small', text: event.venue + ' — ' + dateTime(event.starts_at) }),
    el('p', { class: 'place', text: placeText(ticket) }),
    el('p', { class: 'small price', text: tierName(ticket.tier) + ' — ' + money(ticket.price_cents, order.currency) }),
    cancelled ? el('p', { class: 'notice bad small', text: t('done.cancelled') }) : null,
    el('img', { src: '/qr/' + encodeURIComponent(ticket.code), alt: t('done.qr', { n: index + 1 }), width: '240', height: '240', class: 'qr' }),
    el('p', { class: 'code', text: ticket.code }),
  ]));
  $('tickets').replaceChildren(...cards);
}

/** The cancel box (while the order stands) or the refund's state (once cancelled). */
function renderCancellation() {
  const order = page.order;
  const cancelled = order.status === 'cancelled';
  $('cancel-box').hidden = cancelled;
  $('cancel-request').hidden = Boolean(page.confirmation);
  $('cancel-confirm').hidden = !page.confirmation;
  $('cancel-text').textContent = t(page.confirmation ? 'order.cancel.confirm_text' : 'order.cancel.request_text');
  const refund = cancelled && order.refund ? order.refund.status : '';
  $('refund-status').hidden = !refund;
  $('refund-status').textContent = refund ? t('order.refund.' + refund) : '';
}

function cancelResult(key, values, bad) {
  $('cancel-result').hidden = !key;
  $('cancel-result').textContent = key ? t(key, values) : '';
  $('cancel-result').className = 'notice ' + (bad ? 'bad' : 'ok');
}

/** The words for a refused cancellation step, by the API's code. */
function cancelRefusal(answer) {
  const error = apiError(answer);
  const keys = {
    refund_period_over: 'order.cancel.closed',
    cancel_request_too_soon: 'order.cancel.too_soon',
    cancel_requests_exhausted: 'order.cancel.exhausted',
    confirmation_expired: 'order.cancel.expired',
    invalid_confirmation: 'order.cancel.invalid',
  };
  if (keys[error.code]) cancelResult(keys[error.code], { s: answer.retryAfterS || 60 }, true);
  else cancelResult('error.generic', { message: error.message }, true);
  if (error.code === 'confirmation_expired' || error.code === 'invalid_confirmation') forgetConfirmation();
}

/** Drops the code from the address (it is used or refused) and offers a new request. */
function forgetConfirmation() {
  page.confirmation = '';
  history.replaceState(null, '', window.location.pathname + '#t=' + encodeURIComponent(page.token));
  renderCancellation();
}

async function requestCancellation() {
  $('cancel-request').disabled = true;
  try {
    const path = '/v1/orders/' + encodeURIComponent(page.orderId) + '/cancel-requests';
    const answer = await api('POST', path, { token: page.token });
    if (answer.status === 202) cancelResult('order.cancel.sent');
    else if (apiError(answer).code === 'order_cancelled') await start();
    else cancelRefusal(answer);
  } catch (error) {
    cancelResult('error.network', {}, true);
  } finally {
    $('cancel-request').disabled = false;
  }
}

async function confirmCancellation() {
  $('cancel-confirm').disabled = true;
  try {
    const path = '/v1/orders/' + encodeURIComponent(page.orderId) + '/cancel';
    const answer = await api('POST', path, { token: page.token, body: { confirmation: page.confirmation } });
    if (answer.status === 200) {
      page.order = answer.body;
      forgetConfirmation();
      cancelResult('');
      render();
    } else {
      cancelRefusal(answer);
    }
  } catch (error) {
    cancelResult('error.network', {}, true);
  } finally {
    $('cancel-confirm').disabled = false;
  }
}

/**
 * Downloads the file a link names, with the order token (a plain link could
 * not send it), saved as `fileName`; `failedKey` says so when it fails.
 */
async function download(clickEvent, fileName, failedKey) {
  clickEvent.preventDefault();
  try {
    const response = await fetch(clickEvent.currentTarget.getAttribute('href'), {
      headers: { Authorization: 'Bearer ' + page.token },
      cache: 'no-store',
    });
    if (response.status !== 200) {
      problem(t(failedKey));
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const link = el('a', { href: url, download: fileName });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    problem('');
  } catch (error) {
    problem(t('error.network'));
  }
}

async function start() {
  page.orderId = orderIdFromPath();
  page.token = fragment('t');
  page.confirmation = fragment('c');
  if (!page.orderId || !page.token) {
    refuse('order.no_token');
    return;
  }
  try {
    const answer = await api('GET', '/v1/orders/' + encodeURIComponent(page.orderId), { token: page.token });
    if (answer.status !== 200) {
      const code = apiError(answer).code;
      refuse(code === 'token_expired' ? 'order.expired' : code === 'unknown_order' ? 'order.unknown' : 'order.invalid');
      return;
    }
    page.order = answer.body;
    const event = await api('GET', '/v1/events/' + encodeURIComponent(page.order.event_id));
    if (event.status !== 200) throw new Error(apiError(event).message);
    page.event = event.body;
    problem('');
    render();
  } catch (error) {
    problem(t('error.network'));
    setTimeout(start, 5000);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  setupLanguage(render);
  $('print').addEventListener('click', () => window.print());
  $('calendar').addEventListener('click',
    (clickEvent) => download(clickEvent, page.order.order_id + '.ics', 'order.calendar_failed'));
  $('tickets-pdf').addEventListener('click',
    (clickEvent) => download(clickEvent, page.order.order_id + '-tickets.pdf', 'order.tickets_pdf_failed'));
  $('cancel-request').addEventListener('click', requestCancellation);
  $('cancel-confirm').addEventListener('click', confirmCancellation);
  window.addEventListener('hashchange', start);
  start();
});
