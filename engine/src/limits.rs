//! Every bound the engine enforces, by name. Hitting one is a typed error, never
//! unbounded memory growth. The HTTP contract's ranges live here too.

/// Length of an id chosen by a promoter (event, section, row, tier): `[A-Za-z0-9_-]{1,64}`.
pub const MAX_PUBLIC_ID_LEN: usize = 64;
/// Length in characters of a display name (event, venue, section, tier).
pub const MAX_NAME_CHARS: usize = 200;

pub const MAX_TIERS_PER_EVENT: usize = 64;
pub const MAX_SECTIONS_PER_EVENT: usize = 512;
pub const MAX_ROWS_PER_SECTION: usize = 500;
/// A row is one shard; its seat offsets are `u16`.
pub const MAX_SEATS_PER_ROW: u32 = 1_000;
/// Reserved seats over all sections of one event.
pub const MAX_RESERVED_SEATS_PER_EVENT: u32 = 250_000;
/// Places of one general-admission section.
pub const MAX_GA_CAPACITY: u32 = 1_000_000;
/// Highest seat number a row may reach (`first + seats - 1`).
pub const MAX_SEAT_NUMBER: u32 = 99_999;
pub const MAX_PRICE_CENTS: u64 = 100_000_000;

/// A door's name in a check-in (free text: "North gate").
pub const MAX_DOOR_BYTES: usize = 64;
/// A scanner's id for one scan (it sends the same id again on a retry).
pub const MAX_SCAN_ID_BYTES: usize = 64;
/// Distinct doors one event's check-ins may name.
pub const MAX_DOORS_PER_EVENT: usize = 64;
/// Second entries (a ticket let in again by a door without network) one
/// event keeps; past it, such scans are still answered `already_used`.
pub const MAX_SECOND_ENTRIES_PER_EVENT: usize = 10_000;
/// A ticket code as a scanner sends it (a real one is 113 characters).
pub const MAX_TICKET_CODE_BYTES: usize = 256;

pub const MIN_PER_BUYER_LIMIT: u32 = 1;
pub const MAX_PER_BUYER_LIMIT: u32 = 100;
pub const MIN_TTL_S: u32 = 1;
pub const MAX_TTL_S: u32 = 86_400;
pub const MIN_ADMIT_PER_MINUTE: u32 = 1;
pub const MAX_ADMIT_PER_MINUTE: u32 = 1_000_000;
pub const MIN_MAX_ACTIVE: u32 = 1;
pub const MAX_MAX_ACTIVE: u32 = 1_000_000;

/// General-admission pools are split into this many slices (or fewer, for tiny
/// pools) so that one counter is not a hot spot.
pub const GA_SLICES_PER_SECTION: u32 = 8;

/// Buyers are spread over this many independently locked shards.
pub const BUYER_SHARDS: usize = 64;
/// Buyers with holds or orders in one event.
pub const MAX_BUYERS_PER_EVENT: usize = 4_000_000;
/// Orders one buyer may have (cancelled ones included) in one event.
pub const MAX_ORDERS_PER_BUYER: usize = 1_000;
/// Ended holds remembered per buyer, so a late purchase or lookup is told
/// "expired" or "released" rather than "unknown".
pub const ENDED_HOLDS_KEPT_PER_BUYER: usize = 4;

/// `Idempotency-Key`: 1 to 128 printable ASCII characters.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
/// Holds one buyer may place with an `Idempotency-Key` in one event. A keyed
/// hold is remembered (not forgotten after `ENDED_HOLDS_KEPT_PER_BUYER`), so
/// that a replay finds it whatever happened since.
pub const MAX_HOLD_KEYS_PER_BUYER: usize = 64;
/// A join's `Idempotency-Key` is scoped to the event, so it must carry 128
/// bits: at least 22 base64url characters (6 bits each) ...
pub const MIN_JOIN_KEY_CHARS: usize = 22;
/// ... or, for a key in hex digits only (4 bits each), at least 32.
pub const MIN_JOIN_KEY_HEX_DIGITS: usize = 32;
/// A join's key is kept at least this long (then forgotten, oldest first).
pub const JOIN_KEY_KEPT_S: u32 = 600;
/// Join keys one event keeps at once: every keyed join is a buyer, so the
/// waiting room's own bound is reached first.
pub const MAX_JOIN_KEYS_PER_EVENT: usize = MAX_WAITING_PER_EVENT;
/// The payment provider's reference, stored as given.
pub const MAX_PAYMENT_REF_LEN: usize = 256;

/// A token as presented (`Authorization: Bearer …`); longer input is refused
/// before it is decoded. Queue and access tokens this server signs are 90
/// characters, order tokens 100.
pub const MAX_TOKEN_LEN: usize = 128;
/// An order token (the buyer's link to the order: read it, print the
/// tickets, add the show to a calendar) stays valid this long after the
/// event's `starts_at`: 7 days. The tickets are needed until the doors close;
/// the week after covers finding the receipt and following what happens to
/// the order after the show (a refund after a cancelled or disrupted show is
/// announced to the buyer in that time), while a link that was forwarded or
/// leaked stops showing the order soon after it stops mattering. The token
/// reads only: cancelling never rests on it.
pub const ORDER_TOKEN_VALID_AFTER_SHOW_S: u32 = 7 * 86_400;
/// Signing keys a key ring keeps: a rotation beyond this drops the oldest key,
/// and the tokens it signed stop verifying.
pub const MAX_SIGNING_KEYS: usize = 16;

/// Events one engine holds.
pub const MAX_EVENTS: usize = 10_000;

/// Buyers who may join one event's waiting room (a waiting buyer costs about
/// 37 bytes: the room bench measures it, see docs/performance.md).
pub const MAX_WAITING_PER_EVENT: usize = 4_000_000;
/// Queue slots one admission tick may walk past (skipping buyers who left or
/// went silent), so a tick stays short whatever the line holds.
pub const MAX_SLOTS_SCANNED_PER_TICK: u32 = 100_000;
/// A waiting buyer who has not polled for this long loses the place.
pub const DEFAULT_HEARTBEAT_GRACE_S: u32 = 60;
/// Polls are accepted from this share of the advised interval on.
pub const DEFAULT_POLL_TOLERANCE_PERCENT: u8 = 90;

/// Staff and machine credentials (tokens) one engine keeps, revoked ones
/// included (they stay listed, and answer `token_revoked`).
pub const MAX_CREDENTIALS: usize = 10_000;
/// A credential's label, in bytes.
pub const MAX_CREDENTIAL_LABEL_BYTES: usize = 200;
/// A staff request as the log keeps it (method and path), in bytes; longer
/// paths are cut at a character boundary.
pub const MAX_STAFF_REQUEST_BYTES: usize = 512;
/// While its payment is under way, a hold lasts until this long after the
/// checkout (a payment page's usual time, with the provider's confirmation)...
pub const PAYMENT_HOLD_EXTENSION_S: u32 = 900;
/// ... but never longer than this after the hold was placed, whatever the
/// checkouts: seats are not kept from other buyers for longer.
pub const MAX_HOLD_WITH_PAYMENT_S: u32 = 1_800;
/// A payment token (issued at checkout, so the buyer can follow the payment
/// after the access ran out) lasts this long after the payment started: as
/// long as the longest hold with a payment, and an hour for the provider's
/// last word and the buyer to come back and read the order (whose own token
/// then lasts).
pub const PAYMENT_TOKEN_VALID_S: u32 = MAX_HOLD_WITH_PAYMENT_S + 3_600;
/// Payments one engine keeps: the open ones, those whose order exists, and
/// the settled ones until `PAYMENT_KEPT_AFTER_SETTLED_S` (then forgotten).
pub const MAX_PAYMENTS: usize = 2_000_000;
/// A payment that ended without an order (failed, cancelled, expired, or
/// refunded) is kept this long after it ended, then forgotten: longer than
/// Stripe retries a webhook delivery (3 days), so a late success still finds
/// its payment and is refunded; and only once its outbox entry (refund, or
/// cancellation at the provider) is done.
pub const PAYMENT_KEPT_AFTER_SETTLED_S: u32 = 7 * 86_400;
/// The sweeper looks this often for cancelled paid orders without their
/// refund (and at the next sweep after a refund could not be queued).
pub const MISSING_REFUNDS_CHECK_EVERY_S: u32 = 60;
/// Payments one sweep forgets (one log record lists them).
pub const MAX_PAYMENTS_FORGOTTEN_PER_SWEEP: usize = 1_000;
/// Open payments (pending or declined) one buyer of an event may have at
/// once: one per hold, and a hold released under a payment still counts
/// until the sweep ends the payment (within a second).
pub const MAX_OPEN_PAYMENTS_PER_BUYER: u32 = 8;
/// Open payments ended by one sweep (their hold ended); the rest wait for the next.
pub const MAX_PAYMENTS_EXPIRED_PER_SWEEP: usize = 1_000;
/// A provider's decline code as kept and shown (longer ones are shown as `declined`).
pub const MAX_DECLINE_REASON_LEN: usize = 64;
/// Webhook deliveries remembered by the provider's event id, so a duplicate
/// changes nothing. Stripe retries a delivery for up to 3 days; ids are kept
/// `WEBHOOK_EVENT_KEPT_S` and forgotten oldest first past this count (a
/// forgotten id delivered again is still harmless: each payment change is
/// made once whatever delivers it).
pub const MAX_WEBHOOK_EVENTS_KEPT: usize = 1_000_000;
/// How long a webhook event id is kept: Stripe's 3 days of retries, plus a day.
pub const WEBHOOK_EVENT_KEPT_S: u32 = 4 * 86_400;
/// A provider's event id or payment reference as given (longer is refused).
pub const MAX_PROVIDER_ID_LEN: usize = 255;
/// Entries one outbox keeps (pending, failed, and done ones until room is
/// needed: done entries are forgotten oldest first).
pub const MAX_OUTBOX_ENTRIES: usize = 1_000_000;
/// One outbox entry's payload.
pub const MAX_OUTBOX_PAYLOAD_BYTES: usize = 4_096;
/// An outbox entry's first retry waits this long; each next one twice as long ...
pub const OUTBOX_FIRST_RETRY_S: u32 = 2;
/// ... up to this long ...
pub const OUTBOX_MAX_RETRY_S: u32 = 3_600;
/// ... and after this many failed attempts the entry is failed for good (about
/// 14 hours after the first), left for an operator.
pub const OUTBOX_MAX_ATTEMPTS: u32 = 20;
/// On open, an email a crash cut off after its order's change (confirmed,
/// cancelled, refunded) is queued if that change is at most this old: a
/// restart comes soon after a crash, and an older change's email entry may
/// have been forgotten after it was sent (done entries go when the outbox is full).
pub const EMAIL_CATCH_UP_S: u32 = 2 * 86_400;
/// A payment provider's webhook delivery (Stripe's events are a few KiB).
pub const MAX_WEBHOOK_BODY_BYTES: usize = 256 * 1024;
/// A payment provider's answer read by the gateway (a PaymentIntent, a refund).
pub const MAX_PROVIDER_ANSWER_BYTES: usize = 256 * 1024;
/// A buyer's email address, in bytes (RFC 5321's longest usable path).
pub const MAX_EMAIL_BYTES: usize = 254;
/// A buyer's name, in bytes.
pub const MAX_BUYER_NAME_BYTES: usize = 200;
/// Buyers' personal data kept (one per payment at most).
pub const MAX_PERSONAL_RECORDS: usize = MAX_PAYMENTS;
/// Keys written and synced to the key table ahead of need, so a checkout
/// that gives an email takes one instead of waiting for the disk (with
/// none left, it writes its own). Made again, in one batch, once half are
/// taken.
pub const SPARE_PERSONAL_KEYS: usize = 64;
/// Spare keys made per upkeep tick (10 a second), at most: 160 a second,
/// far above a spike's checkouts, in batches that share their syncs.
pub const SPARE_PERSONAL_KEYS_PER_TICK: usize = 16;
/// A buyer's personal data is erased (its key deleted) this long after the
/// show starts: time for the refunds, questions and chargebacks that follow.
pub const PERSONAL_DATA_KEPT_AFTER_SHOW_S: u32 = 30 * 86_400;
/// A cancellation's emailed confirmation code cancels for this long after
/// the cancellation was asked for.
pub const CANCEL_CONFIRMATION_VALID_S: u32 = 1_800;
/// Cancellation confirmations one order may be sent over its life: each is
/// an email to the buyer, so a forwarded link cannot flood the mailbox.
pub const MAX_CANCEL_REQUESTS_PER_ORDER: u32 = 5;
/// A new cancellation confirmation for an order no sooner than this after the last.
pub const CANCEL_REQUEST_INTERVAL_S: u32 = 60;
/// "Find my order" emails one order may be sent over its life; past it a
/// lookup still answers as always, and sends nothing.
pub const MAX_ORDER_LINK_EMAILS_PER_ORDER: u32 = 10;
/// A new "Find my order" email for an order no sooner than this after the last.
pub const ORDER_LINK_EMAIL_INTERVAL_S: u32 = 300;
/// A confirmation code's text (they are about 40 characters).
pub const MAX_CONFIRMATION_CODE_LEN: usize = 80;
/// An email address as "Find my order" takes it, in characters (RFC 5321's
/// longest path is 254 octets).
pub const MAX_LOOKUP_EMAIL_CHARS: usize = 254;
/// Pieces of background work (a ticket PDF to render, an email to write and
/// send) queued for the spare CPU at once; a download that finds the queue
/// full is answered 503 `renderer_busy` rather than waiting in line.
pub const MAX_SPARE_CPU_JOBS: usize = 64;
/// How long a buyer's PDF download waits for the spare CPU before 503
/// `renderer_busy`: during a spike the sale takes every core, and the PDF
/// can come later.
pub const DOWNLOAD_RENDER_WAIT_S: u64 = 10;

/// A drawn hall's width and height, in the spec's units.
pub const MIN_HALL_SIZE: u32 = 10;
pub const MAX_HALL_SIZE: u32 = 100_000;
/// Points of one polygon (a section's or the stage's shape).
pub const MAX_SHAPE_POINTS: usize = 64;
/// A row layout's seat and row spacing, in units.
pub const MAX_SPACING: u32 = 1_000;
/// A curved row layout's radius, in units.
pub const MAX_CURVE_RADIUS: u32 = 1_000_000;
