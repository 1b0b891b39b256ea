// A fake Stripe API for the browser tests, on 127.0.0.1 (the tests have no
// network): answers `POST /v1/payment_intents` with a PaymentIntent whose
// client secret names it, and `POST /v1/refunds`, as the gateway's own
// payment tests' fake does. Prints `listening on http://127.0.0.1:<port>`,
// and stops by itself after 15 minutes.
import { createServer } from 'node:http';

let count = 0;
const server = createServer((request, response) => {
  let body = '';
  request.on('data', (chunk) => { body += chunk; });
  request.on('end', () => {
    const form = new URLSearchParams(body);
    let answer;
    if (request.method === 'POST' && request.url === '/v1/payment_intents') {
      const id = `pi_e2e_${count++}`;
      answer = {
        id, object: 'payment_intent', client_secret: `${id}_secret_e2e`, status: 'requires_payment_method',
        amount: Number(form.get('amount')), currency: form.get('currency'),
        metadata: { payment_id: form.get('metadata[payment_id]') },
      };
    } else if (request.method === 'POST' && request.url === '/v1/refunds') {
      answer = { id: `re_e2e_${count++}`, object: 'refund', status: 'succeeded' };
    } else {
      response.writeHead(404, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ error: { message: 'no such route in the fake' } }));
      return;
    }
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(answer));
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
setTimeout(() => process.exit(0), 15 * 60 * 1000).unref();
