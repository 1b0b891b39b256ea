// The order page, `/o/{order_id}#t=<order token>`: the link a buyer keeps
// (and, later, receives by email). It reads the order with the order token
// from the address's fragment (never sent to the server, so never in its
// logs), then the event, and shows each ticket with its place, price and QR
// code; it prints cleanly and offers the show as a calendar file and the
// tickets as a PDF. It needs
// nothing kept in the browser: a fresh browser, long after the shopping
// time ran out, shows the same tickets.
'use strict';

const page = { orderId: '', token: '', order: null, event: null };

function orderIdFromPath() {
  const match = /^\/o\/([^/]+)$/.exec(window.location.pathname);
  return match ? decodeURIComponent(match[1]) : '';
}

function tokenFromFragment() {
  return new URLSearchParams(window.location.hash.replace(/^#/, '')).get('t') || '';
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
  page.token = tokenFromFragment();
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
  window.addEventListener('hashchange', start);
  start();
});
