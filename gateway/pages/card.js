// The card form of an event paid through Stripe, for the buyer's page.
// Stripe.js is loaded only when a checkout answers a client secret (the
// server lets js.stripe.com into the Content-Security-Policy of such events'
// pages only); Stripe's Payment Element is mounted in the checkout, and the
// payment is confirmed in the page (`redirect: 'if_required'`: a bank that
// needs its own page brings the buyer back to the event's page). The order
// itself is made by the provider's webhook; the page follows the hold.
'use strict';

const STRIPE_JS = 'https://js.stripe.com/v3/';

const card = {
  loading: null, // the promise of Stripe.js
  stripe: null,
  elements: null,
  paymentId: '', // the payment the mounted form pays
};

/** Stripe.js, loaded once (tried again after a failure). */
function loadStripeJs() {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  if (!card.loading) {
    card.loading = new Promise((resolve, reject) => {
      const script = el('script', { src: STRIPE_JS });
      script.addEventListener('load', () => (window.Stripe ? resolve(window.Stripe) : reject(new Error('no Stripe'))));
      script.addEventListener('error', () => {
        card.loading = null;
        script.remove();
        reject(new Error('Stripe.js could not be loaded'));
      });
      document.head.append(script);
    });
  }
  return card.loading;
}

/** Whether the form shown pays `paymentId`. */
function cardFormPays(paymentId) {
  return Boolean(card.elements) && Boolean(paymentId) && card.paymentId === paymentId;
}

/**
 * Mounts the card form in `container` for a checkout's answer (its
 * `client_secret`, `publishable_key` and `payment`). Throws when Stripe.js
 * cannot be loaded.
 */
async function cardFormShow(answer, container) {
  if (cardFormPays(answer.payment.payment_id)) return;
  const Stripe = await loadStripeJs();
  card.stripe = Stripe(answer.publishable_key);
  card.elements = card.stripe.elements({ clientSecret: answer.client_secret, locale: currentLang() });
  const form = card.elements.create('payment');
  container.replaceChildren();
  form.mount(container);
  card.paymentId = answer.payment.payment_id;
}

/**
 * Confirms the payment with what the buyer typed. Resolves to `{ error }`
 * (Stripe's message, for the buyer) or `{ status }` (the PaymentIntent's).
 */
async function cardFormConfirm(returnUrl) {
  const result = await card.stripe.confirmPayment({
    elements: card.elements,
    confirmParams: { return_url: returnUrl },
    redirect: 'if_required',
  });
  if (result.error) return { error: result.error.message || result.error.code || 'card refused' };
  return { status: result.paymentIntent ? result.paymentIntent.status : 'processing' };
}

/** Forgets the form (its payment is over). */
function cardFormForget(container) {
  card.elements = null;
  card.paymentId = '';
  if (container) container.replaceChildren();
}
