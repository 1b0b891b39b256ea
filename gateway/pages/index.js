// The event list (`/`): events on sale or soon on sale, with search by name,
// venue and date, from `GET /v1/events`; and "Find my order", which has the
// order's link emailed again (the answer never says whether it exists).
'use strict';

let shown = [];

async function search() {
  const form = $('search');
  const params = new URLSearchParams();
  const q = form.q.value.trim();
  if (q) params.set('q', q);
  // Dates are the visitor's own days.
  if (form.from.value) params.set('from', new Date(form.from.value + 'T00:00:00').toISOString());
  if (form.to.value) params.set('to', new Date(form.to.value + 'T23:59:59').toISOString());
  const query = params.toString();
  history.replaceState(null, '', q ? '/?q=' + encodeURIComponent(q) : '/');
  $('error').hidden = true;
  try {
    const answer = await api('GET', '/v1/events' + (query ? '?' + query : ''));
    if (answer.status !== 200) throw new Error(apiError(answer).message);
    shown = answer.body.events.filter((e) => e.state !== 'closed');
    shown.sort((a, b) => a.starts_at.localeCompare(b.starts_at));
  } catch (error) {
    shown = [];
    $('error').textContent = error instanceof TypeError ? t('error.network') : t('error.generic', { message: error.message });
    $('error').hidden = false;
  }
  render();
}

function render() {
  const list = $('events');
  list.replaceChildren();
  for (const event of shown) {
    list.append(el('li', { class: 'card' }, [
      el('div', { class: 'grow' }, [
        el('div', { class: 'name', text: event.name }),
        el('div', { text: event.venue }),
        el('div', { class: 'muted small', text: dateTime(event.starts_at) }),
        event.state === 'scheduled'
          ? el('div', { class: 'small', text: t('index.on_sale_at', { when: dateTime(event.on_sale_at) }) })
          : null,
      ]),
      el('span', { class: 'badge ' + event.state, text: t('state.' + event.state) }),
      el('a', { class: 'button', href: '/e/' + encodeURIComponent(event.id), text: t('index.open') }),
    ]));
  }
  $('count').textContent = shown.length ? t('index.count', { n: shown.length }) : t('index.none');
}

async function findOrder(submitted) {
  submitted.preventDefault();
  const form = $('find');
  const result = $('find-result');
  form.querySelector('button').disabled = true;
  try {
    const body = { email: form.email.value.trim(), order_id: form.order_id.value.trim().toLowerCase() };
    const answer = await api('POST', '/v1/orders/lookup', { body });
    result.className = 'notice ' + (answer.status === 202 ? 'ok' : 'bad');
    if (answer.status === 202) result.textContent = t('find.sent');
    else if (answer.status === 429) result.textContent = t('find.too_many', { s: answer.retryAfterS || 60 });
    else result.textContent = t('error.generic', { message: apiError(answer).message });
  } catch (error) {
    result.className = 'notice bad';
    result.textContent = t('error.network');
  } finally {
    result.hidden = false;
    form.querySelector('button').disabled = false;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('find').addEventListener('submit', findOrder);
  setupLanguage(render);
  const form = $('search');
  const initial = new URLSearchParams(location.search);
  form.q.value = initial.get('q') || '';
  form.addEventListener('submit', (e) => { e.preventDefault(); search(); });
  form.addEventListener('reset', () => setTimeout(search, 0));
  search();
});
