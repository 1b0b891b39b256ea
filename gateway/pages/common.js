// Guichet's pages: what every page shares. The French and English strings
// (one dictionary for all pages), the language switch, calls to the v1 API,
// and small formatting and DOM helpers. Plain JavaScript, no build step.
'use strict';

const STRINGS = {
  en: {
    'lang.switch': 'Français',
    'lang.switch.label': 'Afficher en français',
    'nav.events': 'Events',
    'nav.admin': 'Promoters',
    'footer': 'Guichet — fair on-sales, one place each.',
    'error.network': 'The server cannot be reached. Check your connection; we will try again.',
    'net.reconnecting': 'Reconnecting… Your place, your seats and your payment are kept.',
    'error.generic': 'Something went wrong: {message}',
    'state.scheduled': 'On sale soon',
    'state.on_sale': 'On sale',
    'state.sold_out': 'Sold out',
    'state.closed': 'Closed',
    // index
    'index.title': 'Events on sale',
    'index.search': 'Search events',
    'index.q': 'Name or venue',
    'index.from': 'From',
    'index.to': 'To',
    'index.submit': 'Search',
    'index.clear': 'Clear',
    'index.none': 'No event matches.',
    'find.title': 'Find my order',
    'find.text': 'Lost the link to your tickets? We email it again to the address given when you bought.',
    'find.email': 'Email address',
    'find.order': 'Order number (o…, on your tickets and emails)',
    'find.submit': 'Email me the link',
    'find.sent': 'If this order was bought with this address, its link is on its way. Check your mailbox (and spam).',
    'find.too_many': 'Too many requests: try again in {s} s.',
    'index.count': '{n} event(s)',
    'index.on_sale_at': 'On sale {when}',
    'index.open': 'Tickets',
    // event: intro
    'event.loading': 'Loading the event…',
    'event.missing.title': 'No such event',
    'event.missing.text': 'There is no event at this address. Check the link, or see the events on sale.',
    'event.starts': 'Show: {when}',
    'event.on_sale': 'On sale: {when}',
    'event.limit': 'Up to {n} tickets per buyer.',
    'event.countdown': 'On sale in',
    'event.join': 'Join the queue',
    'event.join.lobby': 'Join the lobby',
    'event.join.note': 'Everyone in the lobby when the sale opens gets a place in a random order: arriving early gives no advantage, arriving before the opening does.',
    'event.join.note.open': 'The sale is open: you join the end of the line, first come, first served, and see your place and the estimated wait.',
    'event.sold_out': 'Sold out. Every ticket is sold; there is no point waiting. If orders are cancelled, tickets go back on sale here.',
    'event.closed': 'Sales are closed for this event.',
    // event: queue
    'queue.title': 'You are in the queue',
    'queue.kept': 'Your place is kept in this browser: refreshing or closing this tab does not lose it. Come back to this page on the same device before your turn.',
    'queue.keep_polling': 'Keep this page open, or come back soon: a buyer who is gone for long loses the place.',
    'queue.state.lobby': 'You are in the lobby. At the opening, everyone here is put in a random order.',
    'queue.state.waiting': 'Waiting for your turn.',
    'queue.state.paused': 'The sale is paused by the promoter. Your place is kept.',
    'queue.state.admitted': 'It is your turn!',
    'queue.state.sold_out': 'Sold out: nothing is left to sell. Your place is kept in case tickets come back.',
    'queue.state.closed': 'Sales are closed.',
    'queue.state.left': 'You left the queue.',
    'queue.state.expired': 'Your place in the queue has expired.',
    'queue.position': 'Your position',
    'queue.ahead': 'People ahead of you',
    'queue.eta': 'Estimated wait',
    'queue.eta.unknown': 'unknown',
    'queue.sold_out_likely': 'Warning: at the current pace, the tickets left will probably run out before your turn.',
    'queue.reason.waiting_for_released_seats': 'The line is on hold: every ticket left is held or being chosen by the people ahead of you. It moves again as tickets come back (a hold runs out, an order is cancelled); the estimated wait grows meanwhile.',
    'queue.reason.max_active_reached': 'The line is on hold: as many people as the sale allows at once are choosing their tickets. The next goes in as soon as one of them finishes.',
    'queue.progress': 'Progress in the queue',
    'queue.updated': 'Updated {when}',
    'queue.announce': 'Position {position}, {ahead} ahead, about {eta}.',
    'queue.leave': 'Leave the queue',
    'queue.leave.confirm': 'Leave the queue for good? You would lose your place.',
    'queue.rejoin': 'Join again',
    'queue.opening': 'Opening in',
    // event: seats
    'seats.title': 'Choose your seats',
    'seats.access': 'You have until {when} to choose and pay.',
    'seats.best': 'Best available',
    'seats.quantity': 'Number of tickets',
    'seats.where': 'Where',
    'seats.tier': '{name} — {price}',
    'seats.section': 'Section {name}',
    'seats.best.submit': 'Find the best {n}',
    'seats.map': 'Seat map',
    'seats.map.help': 'Tap a section to zoom in, then tap free seats to select them. Pinch, or use + and −, to zoom; drag to move. Or choose by section and row below.',
    'seats.best.accessible': 'Wheelchair-accessible seats (with companion seats)',
    'hall.stage': 'Stage',
    'hall.places_left': '{n} places left',
    'hall.accessible': 'wheelchair accessible',
    'hall.companion': 'companion seat',
    'hall.zoom_in': 'Zoom in',
    'hall.zoom_out': 'Zoom out',
    'hall.zoom_fit': 'Whole hall',
    'hall.pick.title': 'Choose by section and row',
    'hall.pick.section_label': 'Section',
    'hall.pick.row_label': 'Row',
    'hall.pick.seats_label': 'Seats of this row',
    'hall.pick.section': '{name} ({tier}, {price}) — {n} available',
    'hall.pick.ga': '{name}: {n} places left, without seat numbers. Choose it under Best available.',
    'hall.pick.row': 'Row {row} — {n} available',
    'seats.row': 'Row {row}',
    'seats.seat': 'Row {row}, seat {number}, {state}',
    'seats.available': 'available',
    'seats.taken': 'taken',
    'seats.selected': 'selected',
    'seats.ga': 'General admission: {n} places left',
    'seats.hold_selected': 'Hold the {n} selected seat(s)',
    'seats.none_selected': 'Select seats on the map',
    'seats.too_many': 'You can take at most {n} tickets.',
    'seats.legend.available': 'Available',
    'seats.legend.taken': 'Taken',
    'seats.legend.selected': 'Selected',
    'seats.unavailable': 'Those seats were just taken: {seats}. The map is up to date; choose again.',
    'seats.over_limit': 'That is more than the limit of {n} tickets per buyer.',
    'seats.not_enough': 'Not enough places together there. Try fewer tickets or another choice.',
    'seats.access_over': 'Your shopping time has run out. Join the queue again to buy.',
    // event: checkout
    'checkout.title': 'Your seats are held',
    'checkout.countdown': 'Held for',
    'checkout.total': 'Total',
    'checkout.test': 'Test payment: no card is charged. A payment reference is generated by this page.',
    'checkout.name': 'Name on the tickets',
    'checkout.email': 'Email for your order (optional)',
    'checkout.pay': 'Pay {total}',
    'checkout.release': 'Release these seats',
    'checkout.expired': 'Your hold has expired and the seats went back on sale. Choose again.',
    'checkout.paying': 'Paying…',
    'checkout.paid_test': 'Test payment: no card is charged. The next page stands in for the payment provider.',
    'checkout.refunded': 'Your payment arrived after your hold had ended: it is being refunded.',
    'checkout.provider': 'This event is paid through a provider this page cannot show yet.',
    'checkout.paid_card': 'Pay by card: the card form below is Stripe’s; this site never sees your card number.',
    'checkout.card': 'Card',
    'checkout.card_unavailable': 'The card form could not be loaded. Check your connection and press Pay again.',
    'checkout.card_refused': 'The payment did not go through: {message} Correct the card details or use another card, then press Pay again.',
    'checkout.confirming': 'Payment sent. Waiting for the confirmation of your bank…',
    'checkout.card_failed': 'The payment failed and your seats were released. Choose again to pay with another card.',
    'checkout.confirming_slow': 'The confirmation is taking longer than usual. Your seats stay held while the payment is under way; this page will show your tickets once it arrives (reload it to check).',
    'door.title': 'Check-in at the door',
    'door.token': 'Door token',
    'door.name': 'This door\'s name',
    'door.start': 'Start checking in',
    'door.camera': 'Scan with the camera',
    'door.camera.none': 'This browser cannot read codes with the camera: type the code below.',
    'door.code': 'Ticket code',
    'door.check': 'Check',
    'door.conflicts': 'Let in twice',
    'door.sign_out': 'Sign out of this door',
    'door.at': 'Door: {door}',
    'door.yes': 'LET IN',
    'door.no': 'DO NOT LET IN',
    'door.unsure': 'CANNOT CHECK',
    'door.seat': 'Section {section}, row {row}, seat {number}',
    'door.ga': 'Section {section}, general admission',
    'door.ticket_of': 'Ticket {n} of {count}',
    'door.offline': 'No network: checked here; it is sent when the network returns.',
    'door.why.other_event': 'A ticket for another event.',
    'door.why.forged': 'Not a genuine ticket of this event.',
    'door.why.not_a_code': 'Not a ticket code.',
    'door.why.cancelled': 'Cancelled: its order was cancelled.',
    'door.why.used': 'Already used: let in at {door} at {when}.',
    'door.why.token': 'This token may not check tickets in at this event.',
    'door.why.no_list': 'No network, and this door has no list to check against yet.',
    'door.sync.waiting': '{n} check-ins waiting for the network.',
    'door.sync.done': 'Every check-in is saved.',
    'door.conflict.used': 'Let in here at {here} without network; {door} had let it in at {there}. {seat}',
    'door.conflict.cancelled': 'Let in here at {here} without network, but it was cancelled. {seat}',
    'door.conflict.invalid': 'Let in here at {here} without network, but the server refused it. {seat}',
    'door.conflict.again': 'Let in here at {here}; {door} let it in again at {there} without network. {seat}',
    'testpay.title': 'Test payment',
    'testpay.note': 'No card is charged: this page stands in for a payment provider.',
    'testpay.pay': 'Pay',
    'testpay.back': 'Back to the event',
    'ticket.seat': 'Section {section}, row {row}, seat {number}',
    'ticket.ga': 'Section {section}, general admission',
    // event: done
    'done.title': 'Your tickets',
    'done.thanks': 'Thank you! Order {order} is confirmed. Show a QR code at the door (on screen or printed).',
    'done.cancelled': 'This order was cancelled.',
    'done.print': 'Print the tickets',
    'done.ticket': 'Ticket {n} of {total}',
    'done.qr': 'QR code of ticket {n}',
    'done.kept': 'These tickets are kept in this browser; you can come back to this page to show them.',
    'done.order_link': 'Your order’s page (keep this link: it shows the tickets in any browser, until a week after the show)',
    // order page
    'order.loading': 'Loading the order…',
    'order.title': 'Order {order}',
    'order.confirmed': 'Confirmed. Show a QR code at the door (on screen or printed).',
    'order.calendar': 'Add to my calendar',
    'order.calendar_failed': 'The calendar file could not be made. Try again later.',
    'order.tickets_pdf': 'Download the tickets (PDF)',
    'order.tickets_pdf_failed': 'The tickets PDF could not be made. Try again later.',
    'order.keep_link': 'Keep this page’s address: it shows your tickets in any browser, until a week after the show. Anyone with the link can see them.',
    'order.cancel.title': 'Cancel this order',
    'order.cancel.request': 'Cancel my order',
    'order.cancel.confirm': 'Confirm the cancellation',
    'order.cancel.request_text': 'To cancel with this link, we first email a confirmation to the address given when you bought.',
    'order.cancel.confirm_text': 'You opened the confirmation we emailed. Cancelling gives the seats back on sale and refunds a paid order.',
    'order.cancel.sent': 'We emailed a confirmation to the address given when you bought. Open the link in it within 30 minutes.',
    'order.cancel.closed': 'This order can no longer be cancelled online. Contact the organiser.',
    'order.cancel.too_soon': 'A confirmation was just sent: check your mailbox, or ask again in {s} s.',
    'order.cancel.exhausted': 'Several confirmations were sent for this order already: use one of them, or contact the organiser.',
    'order.cancel.expired': 'This confirmation has expired (after 30 minutes). Ask for a new one.',
    'order.cancel.invalid': 'This confirmation is not valid for this order. Use the link in the latest email, or ask for a new one.',
    'order.refund.pending': 'Refund under way.',
    'order.refund.done': 'Refunded.',
    'order.refund.failed': 'The refund could not be made automatically: the organiser has been told.',
    'order.refused.title': 'This order cannot be shown',
    'order.no_token': 'This link is incomplete: it must end with #t= and the order’s key. Copy the whole link.',
    'order.expired': 'This link has expired (a week after the show).',
    'order.unknown': 'There is no such order.',
    'order.invalid': 'This link is not valid for this order. Copy the whole link you received.',
    // FAQ
    'faq.title': 'Questions',
    'faq.random.q': 'Why a random order at the opening?',
    'faq.random.a': 'Everyone who is in the lobby when the sale opens is put in one random order, drawn from a seed whose fingerprint is published before the opening. Being a second faster than others does not help, and refreshing does not either. People who arrive after the opening join the end of the line, first come, first served.',
    'faq.eta.q': 'How is the wait computed?',
    'faq.eta.a': 'From the number of people ahead of you and the rate at which buyers are actually let in over the last minute (or the promoter\'s rate at first). It changes if the promoter changes the rate or pauses the sale, and as people ahead of you leave.',
    'faq.limit.q': 'How many tickets can I buy?',
    'faq.limit.a': 'Up to {n} tickets per buyer for this event, counting seats you hold and seats you have bought.',
    'faq.keep.q': 'Do I lose my place if I refresh?',
    'faq.keep.a': 'No. Your place is kept in this browser. If you close the tab, come back to this page on the same device. Keep this page open: a place whose page has not checked in for a minute (tab closed, phone asleep) is taken out of the line so that others move up.',
    // admin
    'admin.title': 'Promoter dashboard',
    'admin.login': 'Sign in',
    'admin.token': 'Admin or staff token',
    'admin.token.help': 'The token set with GUICHET_ADMIN_TOKEN (or printed by the server at start), or a token made for you (gch_…). It is kept only for this browser tab.',
    'admin.signin': 'Sign in',
    'admin.signout': 'Sign out',
    'admin.bad_token': 'That token is not accepted.',
    'admin.tokens': 'Tokens',
    'admin.tokens.help': 'Tokens for your team and your machines, each with a role and the events it covers. A token is shown once, when it is made; revoking one stops it at once.',
    'admin.k.role': 'Role',
    'admin.k.events': 'Events (ids, separated by commas)',
    'admin.k.label': 'Label (who holds it)',
    'admin.k.expires': 'Expires (optional)',
    'admin.k.create': 'Make a token',
    'admin.k.made': 'Copy this token now: it will not be shown again.',
    'admin.k.id': 'Id',
    'admin.k.events.column': 'Events',
    'admin.k.label.column': 'Label',
    'admin.k.created': 'Made',
    'admin.k.state': 'State',
    'admin.k.active': 'active',
    'admin.k.revoked': 'revoked {when}',
    'admin.k.expired': 'expired',
    'admin.k.until': 'until {when}',
    'admin.k.revoke': 'Revoke',
    'admin.k.revoke.confirm': 'Revoke token {id} ({label})? It stops working at once.',
    'admin.k.revoked.done': 'Token {id} revoked.',
    'admin.events': 'Events',
    'admin.choose': 'Event',
    'admin.open': 'Open the dashboard',
    'admin.new': 'New event',
    'admin.no_events': 'No event yet. Create one.',
    'admin.live': 'Live, refreshed every {s} s — last at {when}',
    'admin.stale': 'Not refreshed since {when}: {why}',
    'admin.queue': 'Queue',
    'admin.lobby': 'Lobby',
    'admin.waiting': 'Waiting',
    'admin.active': 'Shopping now',
    'admin.admitted_total': 'Admitted so far',
    'admin.abandoned': 'Gave up',
    'admin.admission': 'Admission',
    'admin.rate.configured': 'Admitted per minute (set)',
    'admin.rate.measured': 'Admitted per minute (measured)',
    'admin.max_active': 'Most shopping at once',
    'admin.paused': 'Paused',
    'admin.running': 'Running',
    'admin.inventory': 'Inventory by section',
    'admin.by_tier': 'Sales by tier',
    'admin.tier': 'Tier',
    'admin.price': 'Price',
    'admin.section': 'Section',
    'admin.available': 'Available',
    'admin.held': 'Held',
    'admin.sold': 'Sold',
    'admin.let_in': 'Let in',
    'admin.doors': 'At the doors',
    'admin.door': 'Door',
    'admin.doors.total': 'Let in so far',
    'admin.doors.none': 'Nobody has been let in yet.',
    'admin.total': 'Total',
    'admin.sales': 'Sales',
    'admin.orders': 'Orders',
    'admin.revenue': 'Revenue',
    'admin.controls': 'Controls',
    'admin.apply': 'Apply',
    'admin.pause': 'Pause the sale',
    'admin.resume': 'Resume the sale',
    'admin.applied': 'Saved: {rate} per minute, at most {max} shopping at once.',
    'admin.paused_now': 'The sale is paused: nobody new is let in.',
    'admin.resumed_now': 'The sale is running again.',
    'admin.order_list': 'Orders',
    'admin.order_search': 'Search orders (id, seat, payment reference, email, name)',
    'admin.orders.csv': 'Download as CSV',
    'admin.orders.csv_failed': 'The download failed (HTTP {status}).',
    'admin.order.id': 'Order',
    'admin.order.created': 'Placed',
    'admin.order.tickets': 'Tickets',
    'admin.order.total': 'Total',
    'admin.order.status': 'Status',
    'admin.order.payment': 'Payment ref.',
    'admin.order.cancel': 'Cancel',
    'admin.order.cancel.confirm': 'Cancel order {id}? Its seats go back on sale.',
    'admin.order.confirmed': 'confirmed',
    'admin.order.cancelled': 'cancelled',
    'admin.orders.more': 'Load more',
    'admin.orders.refresh': 'Refresh the list',
    'admin.orders.none': 'No order yet.',
    'admin.orders.count': '{n} order(s) shown',
    'admin.create': 'Create an event',
    'admin.template': 'Copy an existing event as a template',
    'admin.template.use': 'Copy',
    'admin.f.id': 'Id (letters, digits, - and _)',
    'admin.f.name': 'Name',
    'admin.f.venue': 'Venue',
    'admin.f.starts_at': 'Show starts (your local time)',
    'admin.f.on_sale_at': 'On sale from (your local time)',
    'admin.f.currency': 'Currency (ISO 4217)',
    'admin.f.per_buyer_limit': 'Tickets per buyer, at most',
    'admin.f.hold_ttl_s': 'Hold time (seconds)',
    'admin.f.admit_per_minute': 'Admitted per minute',
    'admin.f.max_active': 'Most shopping at once',
    'admin.f.access_ttl_s': 'Shopping time (seconds)',
    'admin.f.payment': 'Payment',
    'admin.payment.none': 'None: purchases carry the client’s own payment reference',
    'admin.payment.test': 'Test provider (no money moves)',
    'admin.payment.stripe': 'Stripe',
    'admin.payment.external': 'A partner shop confirms',
    'admin.payment.shown': 'Payment: {how}',
    'admin.email.none': 'Email: no SMTP relay configured, nothing is sent.',
    'admin.email.ok': 'Email: the relay took a message at {when}.',
    'admin.email.idle': 'Email: the relay is configured; nothing sent since the server started.',
    'admin.email.failing': 'Email: the relay is failing since {when} ({error}); retrying.',
    'admin.email.waiting': '{n} waiting, {failed} given up.',
    'admin.f.layout': 'Tiers, sections and the hall (JSON)',
    'admin.f.layout.help': 'tiers: id, name, price_cents; sections: id, name, tier, and rows [{id, seats, first, accessible, companion}] or capacity; optionally hall, with each section\'s seating or shape, to draw the map. See docs/api.md.',
    'admin.f.submit': 'Create the event',
    'admin.created': 'Event {id} created.',
    'admin.invalid': 'The event was not created: {message}',
  },
  fr: {
    'lang.switch': 'English',
    'lang.switch.label': 'Show in English',
    'nav.events': 'Événements',
    'nav.admin': 'Producteurs',
    'footer': 'Guichet — des mises en vente équitables, une place chacun.',
    'error.network': 'Le serveur est injoignable. Vérifiez votre connexion ; nous réessaierons.',
    'net.reconnecting': 'Reconnexion… Votre place, vos sièges et votre paiement sont gardés.',
    'error.generic': 'Un problème est survenu : {message}',
    'state.scheduled': 'Bientôt en vente',
    'state.on_sale': 'En vente',
    'state.sold_out': 'Complet',
    'state.closed': 'Terminé',
    'index.title': 'Événements en vente',
    'index.search': 'Chercher un événement',
    'index.q': 'Nom ou salle',
    'index.from': 'Du',
    'index.to': 'Au',
    'index.submit': 'Chercher',
    'index.clear': 'Effacer',
    'index.none': 'Aucun événement ne correspond.',
    'find.title': 'Retrouver ma commande',
    'find.text': 'Perdu le lien de vos billets? Nous le renvoyons à l’adresse courriel donnée à l’achat.',
    'find.email': 'Adresse courriel',
    'find.order': 'Numéro de commande (o…, sur vos billets et courriels)',
    'find.submit': 'M’envoyer le lien',
    'find.sent': 'Si cette commande a été achetée avec cette adresse, son lien est en route. Consultez vos courriels (et les indésirables).',
    'find.too_many': 'Trop de demandes : réessayez dans {s} s.',
    'index.count': '{n} événement(s)',
    'index.on_sale_at': 'En vente le {when}',
    'index.open': 'Billets',
    'event.loading': 'Chargement de l’événement…',
    'event.missing.title': 'Événement introuvable',
    'event.missing.text': 'Il n’y a pas d’événement à cette adresse. Vérifiez le lien ou voyez les événements en vente.',
    'event.starts': 'Spectacle : {when}',
    'event.on_sale': 'Mise en vente : {when}',
    'event.limit': 'Au plus {n} billets par acheteur.',
    'event.countdown': 'Mise en vente dans',
    'event.join': 'Entrer dans la file',
    'event.join.lobby': 'Entrer dans la salle d’attente',
    'event.join.note': 'Toutes les personnes présentes dans la salle d’attente à l’ouverture reçoivent une place dans un ordre tiré au sort : arriver tôt ne donne aucun avantage, arriver avant l’ouverture, oui.',
    'event.join.note.open': 'La vente est ouverte : vous prenez place au bout de la file, premier arrivé, premier servi, et voyez votre position et l’attente estimée.',
    'event.sold_out': 'Complet. Tous les billets sont vendus ; inutile d’attendre. Si des commandes sont annulées, les billets reviennent en vente ici.',
    'event.closed': 'La vente est terminée pour cet événement.',
    'queue.title': 'Vous êtes dans la file',
    'queue.kept': 'Votre place est gardée dans ce navigateur : actualiser ou fermer cet onglet ne la fait pas perdre. Revenez sur cette page avec le même appareil avant votre tour.',
    'queue.keep_polling': 'Gardez cette page ouverte ou revenez vite : une personne absente longtemps perd sa place.',
    'queue.state.lobby': 'Vous êtes dans la salle d’attente. À l’ouverture, tout le monde ici est placé dans un ordre tiré au sort.',
    'queue.state.waiting': 'En attente de votre tour.',
    'queue.state.paused': 'La vente est en pause (décision du producteur). Votre place est gardée.',
    'queue.state.admitted': 'C’est votre tour !',
    'queue.state.sold_out': 'Complet : il ne reste rien à vendre. Votre place est gardée au cas où des billets reviennent.',
    'queue.state.closed': 'La vente est terminée.',
    'queue.state.left': 'Vous avez quitté la file.',
    'queue.state.expired': 'Votre place dans la file a expiré.',
    'queue.position': 'Votre position',
    'queue.ahead': 'Personnes devant vous',
    'queue.eta': 'Attente estimée',
    'queue.eta.unknown': 'inconnue',
    'queue.sold_out_likely': 'Attention : au rythme actuel, les billets restants seront probablement épuisés avant votre tour.',
    'queue.reason.waiting_for_released_seats': 'La file est en attente : tous les billets restants sont réservés ou en train d’être choisis par les personnes devant vous. Elle avancera de nouveau quand des billets reviendront (réservation expirée, commande annulée) ; l’attente estimée augmente en attendant.',
    'queue.reason.max_active_reached': 'La file est en attente : autant de personnes que la vente le permet à la fois choisissent leurs billets. La suivante entre dès que l’une d’elles a terminé.',
    'queue.progress': 'Progression dans la file',
    'queue.updated': 'Mis à jour {when}',
    'queue.announce': 'Position {position}, {ahead} devant vous, environ {eta}.',
    'queue.leave': 'Quitter la file',
    'queue.leave.confirm': 'Quitter la file pour de bon ? Vous perdriez votre place.',
    'queue.rejoin': 'Entrer de nouveau',
    'queue.opening': 'Ouverture dans',
    'seats.title': 'Choisissez vos places',
    'seats.access': 'Vous avez jusqu’à {when} pour choisir et payer.',
    'seats.best': 'Meilleures places disponibles',
    'seats.quantity': 'Nombre de billets',
    'seats.where': 'Où',
    'seats.tier': '{name} — {price}',
    'seats.section': 'Section {name}',
    'seats.best.submit': 'Trouver les {n} meilleures',
    'seats.map': 'Plan de salle',
    'seats.map.help': 'Touchez une section pour l’agrandir, puis les places libres pour les choisir. Pincez, ou utilisez + et −, pour agrandir ; glissez pour vous déplacer. Ou choisissez par section et rangée plus bas.',
    'seats.best.accessible': 'Places accessibles en fauteuil roulant (avec places d’accompagnateur)',
    'hall.stage': 'Scène',
    'hall.places_left': '{n} places restantes',
    'hall.accessible': 'accessible en fauteuil roulant',
    'hall.companion': 'place d’accompagnateur',
    'hall.zoom_in': 'Agrandir',
    'hall.zoom_out': 'Réduire',
    'hall.zoom_fit': 'Toute la salle',
    'hall.pick.title': 'Choisir par section et rangée',
    'hall.pick.section_label': 'Section',
    'hall.pick.row_label': 'Rangée',
    'hall.pick.seats_label': 'Places de cette rangée',
    'hall.pick.section': '{name} ({tier}, {price}) — {n} libres',
    'hall.pick.ga': '{name} : {n} places restantes, sans numéro de siège. Choisissez-la sous Meilleures places disponibles.',
    'hall.pick.row': 'Rangée {row} — {n} libres',
    'seats.row': 'Rangée {row}',
    'seats.seat': 'Rangée {row}, siège {number}, {state}',
    'seats.available': 'libre',
    'seats.taken': 'prise',
    'seats.selected': 'choisie',
    'seats.ga': 'Admission générale : {n} places restantes',
    'seats.hold_selected': 'Réserver les {n} place(s) choisie(s)',
    'seats.none_selected': 'Choisissez des places sur le plan',
    'seats.too_many': 'Vous pouvez prendre au plus {n} billets.',
    'seats.legend.available': 'Libre',
    'seats.legend.taken': 'Prise',
    'seats.legend.selected': 'Choisie',
    'seats.unavailable': 'Ces places viennent d’être prises : {seats}. Le plan est à jour ; choisissez de nouveau.',
    'seats.over_limit': 'C’est plus que la limite de {n} billets par acheteur.',
    'seats.not_enough': 'Pas assez de places côte à côte ici. Essayez moins de billets ou un autre choix.',
    'seats.access_over': 'Votre temps d’achat est écoulé. Entrez de nouveau dans la file pour acheter.',
    'checkout.title': 'Vos places sont réservées',
    'checkout.countdown': 'Réservées encore',
    'checkout.total': 'Total',
    'checkout.test': 'Paiement de test : aucune carte n’est débitée. Cette page génère une référence de paiement.',
    'checkout.name': 'Nom sur les billets',
    'checkout.email': 'Courriel pour votre commande (facultatif)',
    'checkout.pay': 'Payer {total}',
    'checkout.release': 'Libérer ces places',
    'checkout.expired': 'Votre réservation a expiré et les places sont retournées en vente. Choisissez de nouveau.',
    'checkout.paying': 'Paiement…',
    'checkout.paid_test': 'Paiement de test : aucune carte n’est débitée. La page suivante tient lieu de prestataire de paiement.',
    'checkout.refunded': 'Votre paiement est arrivé après la fin de votre réservation : il vous est remboursé.',
    'checkout.provider': 'Cet événement se paie par un prestataire que cette page ne sait pas encore afficher.',
    'checkout.paid_card': 'Paiement par carte : le formulaire de carte ci-dessous est celui de Stripe ; ce site ne voit jamais votre numéro de carte.',
    'checkout.card': 'Carte',
    'checkout.card_unavailable': 'Le formulaire de carte n’a pas pu être chargé. Vérifiez votre connexion et appuyez de nouveau sur Payer.',
    'checkout.card_refused': 'Le paiement n’est pas passé : {message} Corrigez les données de la carte ou utilisez une autre carte, puis appuyez de nouveau sur Payer.',
    'checkout.confirming': 'Paiement envoyé. En attente de la confirmation de votre banque…',
    'checkout.card_failed': 'Le paiement a échoué et vos places ont été libérées. Choisissez de nouveau pour payer avec une autre carte.',
    'checkout.confirming_slow': 'La confirmation prend plus de temps que d’habitude. Vos places restent réservées pendant le paiement ; cette page affichera vos billets dès son arrivée (rechargez-la pour vérifier).',
    'door.title': 'Contrôle à l’entrée',
    'door.token': 'Jeton de la porte',
    'door.name': 'Nom de cette porte',
    'door.start': 'Commencer le contrôle',
    'door.camera': 'Lire avec la caméra',
    'door.camera.none': 'Ce navigateur ne lit pas les codes avec la caméra : tapez le code ci-dessous.',
    'door.code': 'Code du billet',
    'door.check': 'Vérifier',
    'door.conflicts': 'Entrés deux fois',
    'door.sign_out': 'Quitter cette porte',
    'door.at': 'Porte : {door}',
    'door.yes': 'ENTRÉE',
    'door.no': 'REFUSÉ',
    'door.unsure': 'VÉRIFICATION IMPOSSIBLE',
    'door.seat': 'Section {section}, rangée {row}, siège {number}',
    'door.ga': 'Section {section}, admission générale',
    'door.ticket_of': 'Billet {n} sur {count}',
    'door.offline': 'Pas de réseau : vérifié ici; il sera envoyé au retour du réseau.',
    'door.why.other_event': 'Un billet d’un autre événement.',
    'door.why.forged': 'Pas un vrai billet de cet événement.',
    'door.why.not_a_code': 'Pas un code de billet.',
    'door.why.cancelled': 'Annulé : sa commande a été annulée.',
    'door.why.used': 'Déjà utilisé : entré par {door} à {when}.',
    'door.why.token': 'Ce jeton ne peut pas contrôler les billets de cet événement.',
    'door.why.no_list': 'Pas de réseau, et cette porte n’a pas encore de liste pour vérifier.',
    'door.sync.waiting': '{n} entrées en attente du réseau.',
    'door.sync.done': 'Toutes les entrées sont enregistrées.',
    'door.conflict.used': 'Entré ici à {here} sans réseau; {door} l’avait laissé entrer à {there}. {seat}',
    'door.conflict.cancelled': 'Entré ici à {here} sans réseau, mais il était annulé. {seat}',
    'door.conflict.invalid': 'Entré ici à {here} sans réseau, mais le serveur l’a refusé. {seat}',
    'door.conflict.again': 'Entré ici à {here} ; {door} l’a laissé entrer de nouveau à {there} sans réseau. {seat}',
    'testpay.title': 'Paiement de test',
    'testpay.note': 'Aucune carte n’est débitée : cette page tient lieu de prestataire de paiement.',
    'testpay.pay': 'Payer',
    'testpay.back': 'Retour à l’événement',
    'ticket.seat': 'Section {section}, rangée {row}, siège {number}',
    'ticket.ga': 'Section {section}, admission générale',
    'done.title': 'Vos billets',
    'done.thanks': 'Merci ! La commande {order} est confirmée. Présentez un code QR à l’entrée (à l’écran ou imprimé).',
    'done.cancelled': 'Cette commande a été annulée.',
    'done.print': 'Imprimer les billets',
    'done.ticket': 'Billet {n} sur {total}',
    'done.qr': 'Code QR du billet {n}',
    'done.kept': 'Ces billets sont gardés dans ce navigateur ; revenez sur cette page pour les présenter.',
    'done.order_link': 'La page de votre commande (gardez ce lien : il montre les billets dans n’importe quel navigateur, jusqu’à une semaine après le spectacle)',
    'order.loading': 'Chargement de la commande…',
    'order.title': 'Commande {order}',
    'order.confirmed': 'Confirmée. Présentez un code QR à l’entrée (à l’écran ou imprimé).',
    'order.calendar': 'Ajouter à mon agenda',
    'order.calendar_failed': 'Le fichier d’agenda n’a pas pu être créé. Réessayez plus tard.',
    'order.tickets_pdf': 'Télécharger les billets (PDF)',
    'order.tickets_pdf_failed': 'Le PDF des billets n’a pas pu être créé. Réessayez plus tard.',
    'order.keep_link': 'Gardez l’adresse de cette page : elle montre vos billets dans n’importe quel navigateur, jusqu’à une semaine après le spectacle. Toute personne qui a le lien peut les voir.',
    'order.cancel.title': 'Annuler cette commande',
    'order.cancel.request': 'Annuler ma commande',
    'order.cancel.confirm': 'Confirmer l’annulation',
    'order.cancel.request_text': 'Pour annuler avec ce lien, nous envoyons d’abord une confirmation à l’adresse courriel donnée à l’achat.',
    'order.cancel.confirm_text': 'Vous avez ouvert la confirmation envoyée par courriel. Annuler remet les places en vente et rembourse une commande payée.',
    'order.cancel.sent': 'Nous avons envoyé une confirmation à l’adresse donnée à l’achat. Ouvrez le lien qu’elle contient dans les 30 minutes.',
    'order.cancel.closed': 'Cette commande ne peut plus être annulée en ligne. Contactez l’organisateur.',
    'order.cancel.too_soon': 'Une confirmation vient d’être envoyée : consultez vos courriels, ou redemandez dans {s} s.',
    'order.cancel.exhausted': 'Plusieurs confirmations ont déjà été envoyées pour cette commande : utilisez l’une d’elles, ou contactez l’organisateur.',
    'order.cancel.expired': 'Cette confirmation a expiré (après 30 minutes). Demandez-en une nouvelle.',
    'order.cancel.invalid': 'Cette confirmation n’est pas valide pour cette commande. Utilisez le lien du dernier courriel, ou demandez-en une nouvelle.',
    'order.refund.pending': 'Remboursement en cours.',
    'order.refund.done': 'Remboursée.',
    'order.refund.failed': 'Le remboursement n’a pas pu être fait automatiquement : l’organisateur a été prévenu.',
    'order.refused.title': 'Cette commande ne peut pas être affichée',
    'order.no_token': 'Ce lien est incomplet : il doit finir par #t= et la clé de la commande. Copiez le lien en entier.',
    'order.expired': 'Ce lien a expiré (une semaine après le spectacle).',
    'order.unknown': 'Cette commande n’existe pas.',
    'order.invalid': 'Ce lien n’est pas valide pour cette commande. Copiez en entier le lien reçu.',
    'faq.title': 'Questions',
    'faq.random.q': 'Pourquoi un ordre tiré au sort à l’ouverture ?',
    'faq.random.a': 'Toutes les personnes présentes dans la salle d’attente à l’ouverture sont placées dans un ordre tiré au sort, à partir d’une graine dont l’empreinte est publiée avant l’ouverture. Être plus rapide d’une seconde n’aide pas, actualiser non plus. Les personnes qui arrivent après l’ouverture se placent au bout de la file, premier arrivé, premier servi.',
    'faq.eta.q': 'Comment l’attente est-elle calculée ?',
    'faq.eta.a': 'À partir du nombre de personnes devant vous et du rythme réel d’admission de la dernière minute (ou du rythme fixé par le producteur au début). Elle change si le producteur modifie ce rythme ou met la vente en pause, et quand des personnes devant vous partent.',
    'faq.limit.q': 'Combien de billets puis-je acheter ?',
    'faq.limit.a': 'Au plus {n} billets par acheteur pour cet événement, en comptant les places réservées et les places achetées.',
    'faq.keep.q': 'Est-ce que je perds ma place si j’actualise ?',
    'faq.keep.a': 'Non. Votre place est gardée dans ce navigateur. Si vous fermez l’onglet, revenez sur cette page avec le même appareil. Gardez cette page ouverte : une place dont la page ne s’est pas manifestée depuis une minute (onglet fermé, téléphone en veille) est retirée de la file pour que les autres avancent.',
    'admin.title': 'Tableau de bord du producteur',
    'admin.login': 'Connexion',
    'admin.token': 'Jeton d’administration ou d’équipe',
    'admin.token.help': 'Le jeton défini par GUICHET_ADMIN_TOKEN (ou affiché par le serveur au démarrage), ou un jeton créé pour vous (gch_…). Il n’est gardé que pour cet onglet.',
    'admin.signin': 'Se connecter',
    'admin.signout': 'Se déconnecter',
    'admin.bad_token': 'Ce jeton n’est pas accepté.',
    'admin.tokens': 'Jetons',
    'admin.tokens.help': 'Des jetons pour votre équipe et vos machines, chacun avec un rôle et les événements qu’il couvre. Un jeton n’est montré qu’une fois, à sa création; le révoquer l’arrête aussitôt.',
    'admin.k.role': 'Rôle',
    'admin.k.events': 'Événements (identifiants, séparés par des virgules)',
    'admin.k.label': 'Libellé (qui le détient)',
    'admin.k.expires': 'Expire (facultatif)',
    'admin.k.create': 'Créer un jeton',
    'admin.k.made': 'Copiez ce jeton maintenant : il ne sera plus affiché.',
    'admin.k.id': 'Id',
    'admin.k.events.column': 'Événements',
    'admin.k.label.column': 'Libellé',
    'admin.k.created': 'Créé',
    'admin.k.state': 'État',
    'admin.k.active': 'actif',
    'admin.k.revoked': 'révoqué {when}',
    'admin.k.expired': 'expiré',
    'admin.k.until': 'jusqu’au {when}',
    'admin.k.revoke': 'Révoquer',
    'admin.k.revoke.confirm': 'Révoquer le jeton {id} ({label}) ? Il cessera aussitôt de fonctionner.',
    'admin.k.revoked.done': 'Jeton {id} révoqué.',
    'admin.events': 'Événements',
    'admin.choose': 'Événement',
    'admin.open': 'Ouvrir le tableau de bord',
    'admin.new': 'Nouvel événement',
    'admin.no_events': 'Aucun événement. Créez-en un.',
    'admin.live': 'En direct, actualisé toutes les {s} s — dernière fois à {when}',
    'admin.stale': 'Pas actualisé depuis {when} : {why}',
    'admin.queue': 'File',
    'admin.lobby': 'Salle d’attente',
    'admin.waiting': 'En attente',
    'admin.active': 'En train d’acheter',
    'admin.admitted_total': 'Admis jusqu’ici',
    'admin.abandoned': 'Abandons',
    'admin.admission': 'Admission',
    'admin.rate.configured': 'Admis par minute (réglage)',
    'admin.rate.measured': 'Admis par minute (mesuré)',
    'admin.max_active': 'Acheteurs simultanés, au plus',
    'admin.paused': 'En pause',
    'admin.running': 'En cours',
    'admin.inventory': 'Inventaire par section',
    'admin.by_tier': 'Ventes par catégorie',
    'admin.tier': 'Catégorie',
    'admin.price': 'Prix',
    'admin.section': 'Section',
    'admin.available': 'Libres',
    'admin.held': 'Réservées',
    'admin.sold': 'Vendues',
    'admin.let_in': 'Entrés',
    'admin.doors': 'Aux portes',
    'admin.door': 'Porte',
    'admin.doors.total': 'Entrés jusqu’ici',
    'admin.doors.none': 'Personne n’est encore entré.',
    'admin.total': 'Total',
    'admin.sales': 'Ventes',
    'admin.orders': 'Commandes',
    'admin.revenue': 'Revenus',
    'admin.controls': 'Commandes de la file',
    'admin.apply': 'Appliquer',
    'admin.pause': 'Mettre la vente en pause',
    'admin.resume': 'Reprendre la vente',
    'admin.applied': 'Enregistré : {rate} par minute, au plus {max} acheteurs simultanés.',
    'admin.paused_now': 'La vente est en pause : personne de plus n’est admis.',
    'admin.resumed_now': 'La vente a repris.',
    'admin.order_list': 'Commandes',
    'admin.order_search': 'Chercher une commande (numéro, place, référence de paiement, courriel, nom)',
    'admin.orders.csv': 'Télécharger en CSV',
    'admin.orders.csv_failed': 'Le téléchargement a échoué (HTTP {status}).',
    'admin.order.id': 'Commande',
    'admin.order.created': 'Passée',
    'admin.order.tickets': 'Billets',
    'admin.order.total': 'Total',
    'admin.order.status': 'État',
    'admin.order.payment': 'Réf. paiement',
    'admin.order.cancel': 'Annuler',
    'admin.order.cancel.confirm': 'Annuler la commande {id} ? Ses places retournent en vente.',
    'admin.order.confirmed': 'confirmée',
    'admin.order.cancelled': 'annulée',
    'admin.orders.more': 'Afficher plus',
    'admin.orders.refresh': 'Actualiser la liste',
    'admin.orders.none': 'Aucune commande.',
    'admin.orders.count': '{n} commande(s) affichée(s)',
    'admin.create': 'Créer un événement',
    'admin.template': 'Copier un événement existant comme modèle',
    'admin.template.use': 'Copier',
    'admin.f.id': 'Identifiant (lettres, chiffres, - et _)',
    'admin.f.name': 'Nom',
    'admin.f.venue': 'Salle',
    'admin.f.starts_at': 'Début du spectacle (heure locale)',
    'admin.f.on_sale_at': 'Mise en vente (heure locale)',
    'admin.f.currency': 'Devise (ISO 4217)',
    'admin.f.per_buyer_limit': 'Billets par acheteur, au plus',
    'admin.f.hold_ttl_s': 'Durée de réservation (secondes)',
    'admin.f.admit_per_minute': 'Admis par minute',
    'admin.f.max_active': 'Acheteurs simultanés, au plus',
    'admin.f.access_ttl_s': 'Temps d’achat (secondes)',
    'admin.f.payment': 'Paiement',
    'admin.payment.none': 'Aucun : les achats portent la référence de paiement du client',
    'admin.payment.test': 'Prestataire de test (aucun argent ne circule)',
    'admin.payment.stripe': 'Stripe',
    'admin.payment.external': 'Une boutique partenaire confirme',
    'admin.payment.shown': 'Paiement : {how}',
    'admin.email.none': 'Courriel : aucun relais SMTP configuré, rien n’est envoyé.',
    'admin.email.ok': 'Courriel : le relais a pris un message à {when}.',
    'admin.email.idle': 'Courriel : le relais est configuré ; rien d’envoyé depuis le démarrage.',
    'admin.email.failing': 'Courriel : le relais échoue depuis {when} ({error}) ; nouvel essai en cours.',
    'admin.email.waiting': '{n} en attente, {failed} abandonné(s).',
    'admin.f.layout': 'Catégories, sections et salle (JSON)',
    'admin.f.layout.help': 'tiers : id, name, price_cents ; sections : id, name, tier, et rows [{id, seats, first, accessible, companion}] ou capacity ; en option hall, avec seating ou shape pour chaque section, pour dessiner le plan. Voir docs/api.md.',
    'admin.f.submit': 'Créer l’événement',
    'admin.created': 'Événement {id} créé.',
    'admin.invalid': 'L’événement n’a pas été créé : {message}',
  },
};

const LANG_KEY = 'guichet.lang';

/** The page's language: the visitor's choice, else the server's (Accept-Language). */
function currentLang() {
  const chosen = safeStorage(localStorage).get(LANG_KEY);
  if (chosen === 'en' || chosen === 'fr') return chosen;
  return document.documentElement.lang === 'fr' ? 'fr' : 'en';
}

/** A translated string, with `{name}` replaced from `vars`. */
function t(key, vars) {
  const lang = currentLang();
  let text = STRINGS[lang][key];
  if (text === undefined) text = STRINGS.en[key];
  if (text === undefined) text = key;
  if (vars) {
    text = text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
  }
  return text;
}

/** Fills every `data-i18n` element (and its `-placeholder` and `-label` variants) below `root`. */
function applyStrings(root) {
  const scope = root || document;
  document.documentElement.lang = currentLang();
  for (const node of scope.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of scope.querySelectorAll('[data-i18n-placeholder]')) {
    node.setAttribute('placeholder', t(node.dataset.i18nPlaceholder));
  }
  for (const node of scope.querySelectorAll('[data-i18n-label]')) {
    node.setAttribute('aria-label', t(node.dataset.i18nLabel));
  }
}

/** localStorage or sessionStorage that never throws (private modes, full storage). */
function safeStorage(storage) {
  return {
    get(key) {
      try { return storage.getItem(key); } catch (e) { return null; }
    },
    set(key, value) {
      try { storage.setItem(key, value); } catch (e) { /* kept in memory only */ }
    },
    remove(key) {
      try { storage.removeItem(key); } catch (e) { /* nothing to remove */ }
    },
    getJson(key) {
      const text = this.get(key);
      if (!text) return null;
      try { return JSON.parse(text); } catch (e) { return null; }
    },
    setJson(key, value) { this.set(key, JSON.stringify(value)); },
  };
}

const local = safeStorage(window.localStorage);

/** Sets up the language switch; `onChange` re-renders what the page drew itself. */
function setupLanguage(onChange) {
  applyStrings();
  const button = document.getElementById('lang-switch');
  if (!button) return;
  button.addEventListener('click', () => {
    local.set(LANG_KEY, currentLang() === 'fr' ? 'en' : 'fr');
    applyStrings();
    if (onChange) onChange();
  });
}

/** How long a call rides through a failover (503 while a standby takes over, or a dropped connection) before its caller hears of it. */
const RIDE_THROUGH_MS = 30000;

/** 503 codes that pass: the request reached no primary (`not_primary`), or its change may still land. */
const PASSING_CODES = new Set(['not_primary', 'replication_unavailable', 'request_timeout', 'log_full']);

/**
 * A v1 API call: `{status, body, retryAfterS}`; throws only when the server cannot be reached.
 * Through a failover it shows "reconnecting" and sends the same request again (same token, same
 * Idempotency-Key) after `Retry-After`: any request refused with `not_primary` (no primary saw
 * it), and a read or a keyed change refused otherwise or cut off; never an unkeyed change, which
 * may have been made.
 */
async function api(method, path, options) {
  const opts = options || {};
  const replayable = method === 'GET' || Object.keys(opts.headers || {}).some((h) => h.toLowerCase() === 'idempotency-key');
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    const inTime = Date.now() - started < RIDE_THROUGH_MS;
    let answer;
    try {
      answer = await apiOnce(method, path, opts);
    } catch (error) {
      if (!replayable || !inTime) { reconnecting(false); throw error; }
      reconnecting(true);
      await sleep(Math.min(500 * 2 ** attempt, 4000));
      continue;
    }
    const code = answer.status === 503 && answer.body && answer.body.error && answer.body.error.code;
    if (inTime && PASSING_CODES.has(code) && (code === 'not_primary' || replayable)) {
      reconnecting(true);
      await sleep((answer.retryAfterS || 1) * 1000);
      continue;
    }
    reconnecting(false);
    return answer;
  }
}

/** Shows or hides the "reconnecting" notice at the top of the page. */
function reconnecting(shown) {
  let notice = document.getElementById('reconnecting');
  if (!notice && !shown) return;
  if (!notice) {
    notice = document.createElement('div');
    notice.id = 'reconnecting';
    notice.className = 'reconnecting';
    notice.setAttribute('role', 'status');
    notice.setAttribute('aria-live', 'polite');
    document.body.prepend(notice);
  }
  notice.textContent = t('net.reconnecting');
  notice.hidden = !shown;
}

/** One v1 API call, as it went. */
async function apiOnce(method, path, opts) {
  const headers = {};
  if (opts.token) headers.Authorization = 'Bearer ' + opts.token;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  Object.assign(headers, opts.headers || {});
  const response = await fetch(path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    cache: 'no-store',
  });
  let body = null;
  if (response.status !== 204) {
    try { body = await response.json(); } catch (e) { body = null; }
  }
  const retry = Number(response.headers.get('Retry-After'));
  return { status: response.status, body, retryAfterS: Number.isFinite(retry) && retry > 0 ? retry : null };
}

/** The error code and message of an API answer. */
function apiError(answer) {
  const error = (answer.body && answer.body.error) || {};
  return { code: error.code || 'http_' + answer.status, message: error.message || 'HTTP ' + answer.status, raw: error };
}

function locale() {
  return currentLang() === 'fr' ? 'fr-CA' : 'en-CA';
}

function money(cents, currency) {
  try {
    return new Intl.NumberFormat(locale(), { style: 'currency', currency }).format(cents / 100);
  } catch (e) {
    return (cents / 100).toFixed(2) + ' ' + currency;
  }
}

function dateTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

function timeOnly(date) {
  return new Intl.DateTimeFormat(locale(), { timeStyle: 'medium' }).format(date);
}

function timeShort(date) {
  return new Intl.DateTimeFormat(locale(), { timeStyle: 'short' }).format(date);
}

/** A duration in seconds as `1 h 05 min`, `3 min 20 s` or `45 s`. */
function duration(totalS) {
  const s = Math.max(0, Math.round(totalS));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return h + ' h ' + String(m).padStart(2, '0') + ' min';
  if (m > 0) return m + ' min ' + String(rest).padStart(2, '0') + ' s';
  return rest + ' s';
}

/** A countdown as `hh:mm:ss` or `mm:ss`. */
function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, '0');
  return (h > 0 ? h + ':' + pad(m) : pad(m)) + ':' + pad(s % 60);
}

/** A DOM element: `el('p', {class: 'x', text: 'y'}, [children])`. */
function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = value;
    else if (name === 'class') node.className = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children || []) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function $(id) {
  return document.getElementById(id);
}

/** Shows one of `ids` and hides the others. */
function showOnly(ids, shown) {
  for (const id of ids) $(id).hidden = id !== shown;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A random hexadecimal string of `bytes` bytes. */
function randomHex(bytes) {
  const data = new Uint8Array(bytes);
  crypto.getRandomValues(data);
  return Array.from(data, (b) => b.toString(16).padStart(2, '0')).join('');
}
