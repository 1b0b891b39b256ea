// The test provider's payment page (`/pay/test/{payment_id}?e={event_id}`):
// it stands in for a payment provider's page. Its Pay button confirms the
// payment through `POST /v1/payments/{payment_id}/test-confirm` (the same
// path as a provider's webhook) with the buyer's access token, kept by the
// event's page under `guichet.e.<event id>`, then goes back to that page,
// which shows the order.
'use strict';

const payment = {
  id: decodeURIComponent(location.pathname.replace(/^\/pay\/test\//, '').replace(/\/$/, '')),
  eventId: new URLSearchParams(location.search).get('e') || '',
  busy: false,
};

function eventKey() {
  return 'guichet.e.' + payment.eventId;
}

function eventState() {
  return local.getJson(eventKey()) || {};
}

function showProblem(text) {
  $('pay-problem').textContent = text;
  $('pay-problem').hidden = !text;
}

function backToEvent() {
  location.assign('/e/' + encodeURIComponent(payment.eventId));
}

function renderAmount() {
  const shown = eventState().payment;
  $('pay-amount').textContent = shown && shown.payment_id === payment.id ? money(shown.amount_cents, shown.currency) : '';
}

async function payNow() {
  if (payment.busy) return;
  payment.busy = true;
  $('pay-now').disabled = true;
  showProblem('');
  try {
    const answer = await api('POST', '/v1/payments/' + encodeURIComponent(payment.id) + '/test-confirm', {
      token: eventState().accessToken,
    });
    if (answer.status !== 200) throw new Error(apiError(answer).message);
    const next = Object.assign(eventState(), { payment: answer.body.payment });
    if (answer.body.order) {
      next.order = answer.body.order;
      delete next.hold;
    }
    local.setJson(eventKey(), next);
    backToEvent();
  } catch (error) {
    showProblem(t('error.generic', { message: error.message }));
  } finally {
    payment.busy = false;
    $('pay-now').disabled = false;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  setupLanguage(renderAmount);
  $('pay-back').href = '/e/' + encodeURIComponent(payment.eventId);
  $('pay-now').addEventListener('click', payNow);
  renderAmount();
});
