// The seat map drawn (event.js's seats step): the hall from
// `GET /v1/events/{id}/hall` as SVG (the stage, sections in their places,
// every seat at its coordinates, coloured by tier and state, accessible and
// companion seats marked), zoom and pan by touch, mouse and buttons; and,
// for keyboards and screen readers, the same seats by section, then row,
// then seat, without tabbing through the whole hall.
//
// A tap on the whole hall zooms to the section under it; once seats are big
// enough to aim at, a tap picks one. Which seats are free comes from the
// seat map (`page.seats`), refreshed while the buyer chooses; the drawing is
// loaded once.
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';
/** A seat smaller than this on screen is not picked by a tap: the tap zooms in first. */
const MIN_TAP_SEAT_PX = 14;
/** The closest zoom: a seat this many pixels across. */
const MAX_SEAT_PX = 48;
/** A tap on a section zooms at least this close: a seat this many pixels across. */
const TAP_ZOOM_SEAT_PX = 20;
const TIER_COLOURS = 6;

const hall = {
  drawing: null,
  view: null, // the SVG's viewBox: {x, y, w, h}
  seatSpacing: 10,
  nodes: new Map(), // seat key -> its SVG node
  gaLabels: new Map(), // section id -> its places-left text node
  pointers: new Map(), // pointer id -> {x, y}
  pick: { section: null, row: null }, // what the section and row lists show
  gesture: null,
};

function svgEl(tag, attrs, children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children || []) node.append(child);
  return node;
}

function tierClass(tierId) {
  const index = page.event.tiers.findIndex((tier) => tier.id === tierId);
  return 'tier-' + (Math.max(index, 0) % TIER_COLOURS);
}

async function loadHall() {
  if (hall.drawing && hall.drawing.event_id === page.id) return true;
  const answer = await api('GET', '/v1/events/' + encodeURIComponent(page.id) + '/hall');
  if (answer.status !== 200) throw new Error(apiError(answer).message);
  hall.drawing = answer.body;
  hall.seatSpacing = typicalSpacing(answer.body);
  return true;
}

/** The distance between neighbouring seats, to size them (the smallest found). */
function typicalSpacing(drawing) {
  let best = Infinity;
  for (const section of drawing.sections) {
    for (const row of section.rows) {
      if (row.seats.length < 2) continue;
      const [a, b] = row.seats;
      best = Math.min(best, Math.hypot(b[1] - a[1], b[2] - a[2]));
    }
  }
  return Number.isFinite(best) ? best : 10;
}

function points(shape) {
  return shape.map((p) => p[0] + ',' + p[1]).join(' ');
}

function centreOf(shape) {
  const n = Math.max(shape.length, 1);
  return shape.reduce((sum, p) => [sum[0] + p[0] / n, sum[1] + p[1] / n], [0, 0]);
}

/** Builds the SVG once per drawing; states are painted by `paintHall`. */
function renderHall() {
  const box = $('hall');
  if (!hall.drawing || !box) return;
  if (box.dataset.drawn === page.id && box.firstChild) {
    paintHall();
    return;
  }
  const d = hall.drawing;
  const radius = hall.seatSpacing * 0.42;
  hall.nodes.clear();
  hall.gaLabels.clear();
  const layers = [];
  if (d.stage) {
    const [x, y] = centreOf(d.stage.shape);
    layers.push(svgEl('g', { class: 'stage' }, [
      svgEl('polygon', { points: points(d.stage.shape) }),
      svgEl('text', { x, y, 'font-size': hall.seatSpacing * 2.4, 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, [d.stage.label || t('hall.stage')]),
    ]));
  }
  for (const section of d.sections) layers.push(sectionGroup(section, radius));
  const svg = svgEl('svg', { id: 'hall-svg', viewBox: '0 0 ' + d.width + ' ' + d.height, 'aria-hidden': 'true', focusable: 'false' }, layers);
  box.replaceChildren(svg);
  box.dataset.drawn = page.id;
  listenToGestures(svg);
  fitHall();
  paintHall();
}

function sectionGroup(section, radius) {
  const parts = [svgEl('polygon', { class: 'section-shape ' + (section.rows.length ? 'reserved' : 'ga ' + tierClass(section.tier)), points: points(section.shape) })];
  for (const row of section.rows) {
    const flags = new Map([...row.accessible.map((n) => [n, 'accessible']), ...row.companion.map((n) => [n, 'companion'])]);
    parts.push(svgEl('text', { class: 'row-label', x: row.label_at[0], y: row.label_at[1], 'font-size': radius * 1.5, 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, [row.row]));
    for (const [number, x, y] of row.seats) {
      const key = seatKey(section.section, row.row, number);
      const flag = flags.get(number);
      const node = flag === 'accessible'
        ? svgEl('rect', { x: x - radius, y: y - radius, width: 2 * radius, height: 2 * radius, rx: radius * 0.25 })
        : flag === 'companion'
          ? svgEl('polygon', { points: [[x, y - radius * 1.1], [x + radius * 1.1, y], [x, y + radius * 1.1], [x - radius * 1.1, y]].map((p) => p.join(',')).join(' ') })
          : svgEl('circle', { cx: x, cy: y, r: radius });
      node.dataset.key = key;
      node.dataset.tier = tierClass(row.tier);
      node.dataset.section = section.section;
      node.dataset.row = row.row;
      node.dataset.number = String(number);
      hall.nodes.set(key, node);
      parts.push(node);
    }
  }
  const [x, y] = section.label_at;
  const size = hall.seatSpacing * (section.rows.length ? 2.2 : 3);
  parts.push(svgEl('text', { class: 'section-label' + (section.rows.length ? ' reserved' : ''), x, y, 'font-size': size, 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, [section.name]));
  if (!section.rows.length) {
    const left = svgEl('text', { class: 'section-label small', x, y: y + size * 1.3, 'font-size': size * 0.8, 'text-anchor': 'middle', 'dominant-baseline': 'middle' });
    hall.gaLabels.set(section.section, left);
    parts.push(left);
  }
  return svgEl('g', { class: 'section', 'data-section': section.section }, parts);
}

/** The free seats of the last seat map, by key. */
function freeSeats() {
  const free = new Set();
  const places = new Map();
  for (const section of (page.seats && page.seats.sections) || []) {
    if (section.rows) {
      for (const row of section.rows) for (const number of row.available) free.add(seatKey(section.section, row.row, number));
    } else {
      places.set(section.section, section.available);
    }
  }
  return { free, places };
}

/** Colours every seat by its state; a selected seat someone else took is let go. */
function paintHall() {
  const { free, places } = freeSeats();
  const lost = [];
  for (const [key, seat] of page.selected) {
    if (page.seats && !free.has(key)) {
      page.selected.delete(key);
      lost.push(seat);
    }
  }
  for (const [key, node] of hall.nodes) {
    const state = page.selected.has(key) ? 'selected' : free.has(key) ? 'free ' + node.dataset.tier : 'taken';
    node.setAttribute('class', 'seat-dot ' + state);
  }
  for (const [id, label] of hall.gaLabels) label.textContent = t('hall.places_left', { n: places.get(id) || 0 });
  if (lost.length) problem(t('seats.unavailable', { seats: lost.map(placeText).join('; ') }));
  renderSeatPicker();
  renderHoldButton();
}

// ---- zoom and pan ----

/** The whole hall, widened to the box's shape so that zooming keeps proportions. */
function fitHall() {
  const d = hall.drawing;
  hall.view = fittedView(0, 0, d.width, d.height);
  applyView();
}

function fittedView(x, y, w, h) {
  const box = $('hall').getBoundingClientRect();
  const aspect = box.width > 0 && box.height > 0 ? box.width / box.height : w / h;
  if (w / h < aspect) {
    const wide = h * aspect;
    return { x: x - (wide - w) / 2, y, w: wide, h };
  }
  const tall = w / aspect;
  return { x, y: y - (tall - h) / 2, w, h: tall };
}

/** The whole section; with `at` (a tapped point), close enough there to tap a seat next. */
function zoomToSection(id, at) {
  const section = hall.drawing.sections.find((s) => s.section === id);
  if (!section) return;
  const xs = section.shape.map((p) => p[0]);
  const ys = section.shape.map((p) => p[1]);
  const pad = hall.seatSpacing * 2;
  hall.view = fittedView(Math.min(...xs) - pad, Math.min(...ys) - pad, Math.max(...xs) - Math.min(...xs) + 2 * pad, Math.max(...ys) - Math.min(...ys) + 2 * pad);
  clampZoom();
  if (at && seatPixels() < TAP_ZOOM_SEAT_PX) zoomBy(TAP_ZOOM_SEAT_PX / seatPixels(), at);
  applyView();
}

function pixelsPerUnit() {
  const width = $('hall').getBoundingClientRect().width;
  return width > 0 && hall.view ? width / hall.view.w : 1;
}

/** Scales the view by `factor` (above 1 zooms in) around the hall point `at`. */
function zoomBy(factor, at) {
  const v = hall.view;
  const centre = at || [v.x + v.w / 2, v.y + v.h / 2];
  hall.view = { x: centre[0] - (centre[0] - v.x) / factor, y: centre[1] - (centre[1] - v.y) / factor, w: v.w / factor, h: v.h / factor };
  clampZoom();
  applyView();
}

/** No closer than a seat of MAX_SEAT_PX, no farther than twice the whole hall. */
function clampZoom() {
  const v = hall.view;
  const width = $('hall').getBoundingClientRect().width || 320;
  const minW = (hall.seatSpacing * width) / MAX_SEAT_PX;
  const maxW = Math.max(hall.drawing.width, hall.drawing.height * (v.w / v.h)) * 2;
  const w = Math.min(Math.max(v.w, minW), maxW);
  if (w !== v.w) {
    const scale = w / v.w;
    hall.view = { x: v.x + (v.w - w) / 2, y: v.y + (v.h - v.h * scale) / 2, w, h: v.h * scale };
  }
}

function applyView() {
  const svg = $('hall-svg');
  const v = hall.view;
  if (!svg || !v) return;
  svg.setAttribute('viewBox', [v.x, v.y, v.w, v.h].map((n) => n.toFixed(1)).join(' '));
  // Zoomed in, a drag pans the map; on the whole hall it scrolls the page.
  $('hall').classList.toggle('zoomed', seatPixels() >= MIN_TAP_SEAT_PX);
}

function seatPixels() {
  return hall.seatSpacing * pixelsPerUnit();
}

/** The hall point under a pointer. */
function hallPoint(clientX, clientY) {
  const box = $('hall').getBoundingClientRect();
  const v = hall.view;
  return [v.x + ((clientX - box.left) / box.width) * v.w, v.y + ((clientY - box.top) / box.height) * v.h];
}

function listenToGestures(svg) {
  svg.addEventListener('pointerdown', (e) => {
    // The main button only: a right or middle click neither pans nor picks.
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    svg.setPointerCapture(e.pointerId);
    hall.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (hall.pointers.size === 1) hall.gesture = { target: e.target, start: [e.clientX, e.clientY], moved: false };
    else if (hall.gesture) hall.gesture.moved = true;
    if (hall.pointers.size === 2) hall.gesture.spread = spread();
  });
  svg.addEventListener('pointermove', (e) => {
    const last = hall.pointers.get(e.pointerId);
    if (!last || !hall.gesture) return;
    if (e.pointerType === 'mouse' && e.buttons === 0) {
      // Released where we could not see it: the drag is over.
      hall.pointers.clear();
      hall.gesture = null;
      return;
    }
    const now = { x: e.clientX, y: e.clientY };
    if (Math.hypot(now.x - hall.gesture.start[0], now.y - hall.gesture.start[1]) > 6) hall.gesture.moved = true;
    hall.pointers.set(e.pointerId, now);
    if (hall.pointers.size === 1 && hall.gesture.moved) {
      const units = 1 / pixelsPerUnit();
      hall.view = { ...hall.view, x: hall.view.x - (now.x - last.x) * units, y: hall.view.y - (now.y - last.y) * units };
      applyView();
    } else if (hall.pointers.size === 2) {
      const spreadNow = spread();
      const [a, b] = Array.from(hall.pointers.values());
      if (hall.gesture.spread > 0) zoomBy(spreadNow / hall.gesture.spread, hallPoint((a.x + b.x) / 2, (a.y + b.y) / 2));
      hall.gesture.spread = spreadNow;
    }
  });
  const end = (e) => {
    const gesture = hall.gesture;
    if (!hall.pointers.delete(e.pointerId) || hall.pointers.size > 0) return;
    hall.gesture = null;
    if (gesture && !gesture.moved && e.type === 'pointerup') tapped(gesture.target, hallPoint(e.clientX, e.clientY));
  };
  svg.addEventListener('pointerup', end);
  svg.addEventListener('pointercancel', end);
  svg.addEventListener('lostpointercapture', end);
  svg.addEventListener('wheel', (e) => {
    // A pinch on a touchpad (or Ctrl and the wheel) zooms; the wheel alone scrolls the page.
    if (!e.ctrlKey) return;
    e.preventDefault();
    zoomBy(Math.exp(-e.deltaY / 200), hallPoint(e.clientX, e.clientY));
  }, { passive: false });
}

function spread() {
  const [a, b] = Array.from(hall.pointers.values());
  return a && b ? Math.hypot(a.x - b.x, a.y - b.y) : 0;
}

/** A tap: on a seat big enough to aim at, picks it; elsewhere in a section, zooms to it. */
function tapped(target, at) {
  const section = target.closest && target.closest('g.section');
  if (!section) return;
  const id = section.dataset.section;
  const key = target.dataset && target.dataset.key;
  if (key && seatPixels() >= MIN_TAP_SEAT_PX) {
    if (!target.classList.contains('taken')) {
      toggleSeat(key, { section: id, row: target.dataset.row, number: Number(target.dataset.number) });
    }
    return;
  }
  const drawn = hall.drawing.sections.find((s) => s.section === id);
  if (drawn && !drawn.rows.length) {
    // General admission has no seats to pick: best available takes its places.
    $('best-where').value = 'section:' + id;
    $('best').scrollIntoView({ block: 'nearest' });
    $('best-submit').focus();
    return;
  }
  zoomToSection(id, at);
  choosePickerSection(id, target.dataset && target.dataset.row);
}

// ---- section, row, seat: the keyboard's and screen reader's way ----

/** The event's reserved sections as its spec lists them: the list works without the drawing. */
function reservedSections() {
  return page.event.sections.filter((section) => section.rows);
}

function seatNumbers(row) {
  const first = row.first || 1;
  return Array.from({ length: row.seats }, (_, i) => first + i);
}

/** The list follows the map: the section tapped, and its row if a seat was. */
function choosePickerSection(id, row) {
  hall.pick = { section: id, row: row || null };
  renderSeatPicker();
}

/** Options `[value, text]` into a select, changed in place when the values are the same (an open list stays open). */
function fillSelect(select, options) {
  const same = select.options.length === options.length && options.every(([value], i) => select.options[i].value === value);
  if (!same) {
    select.replaceChildren(...options.map(([value, text]) => el('option', { value, text })));
    return;
  }
  options.forEach(([, text], i) => { if (select.options[i].textContent !== text) select.options[i].textContent = text; });
}

function renderSeatPicker() {
  const sectionSelect = $('pick-section');
  if (!sectionSelect || !page.event) return;
  const { free, places } = freeSeats();
  const sections = reservedSections();
  const countFree = (section, row) => seatNumbers(row).filter((n) => free.has(seatKey(section.id, row.id, n))).length;
  $('seat-picker').hidden = sections.length === 0;
  if (!sections.some((s) => s.id === hall.pick.section)) hall.pick = { section: sections[0] && sections[0].id, row: null };
  fillSelect(sectionSelect, sections.map((section) => {
    const n = section.rows.reduce((sum, row) => sum + countFree(section, row), 0);
    const tier = tierOf(section.tier);
    return [section.id, t('hall.pick.section', { name: section.name, tier: tier.name, price: money(tier.price_cents, page.event.currency), n })];
  }));
  if (hall.pick.section) sectionSelect.value = hall.pick.section;
  const section = sections.find((s) => s.id === hall.pick.section);
  if (section && !section.rows.some((row) => row.id === hall.pick.row)) hall.pick.row = section.rows[0].id;
  fillSelect($('pick-row'), (section ? section.rows : []).map((row) => [row.id, t('hall.pick.row', { row: row.id, n: countFree(section, row) })]));
  if (hall.pick.row) $('pick-row').value = hall.pick.row;
  renderRowSeats(section, section && section.rows.find((r) => r.id === hall.pick.row), free);
  // General admission has no seats to pick: what is left, and where to take it.
  $('pick-ga').replaceChildren(...page.event.sections.filter((s) => !s.rows).map((s) => el('li', { text: t('hall.pick.ga', { name: s.name, n: places.get(s.id) || 0 }) })));
}

function renderRowSeats(section, row, free) {
  const box = $('pick-seats');
  if (!section || !row) {
    box.replaceChildren();
    return;
  }
  const accessible = new Set(row.accessible || []);
  const companion = new Set(row.companion || []);
  const buttons = seatNumbers(row).map((number) => {
    const key = seatKey(section.id, row.id, number);
    const isFree = free.has(key);
    const selected = page.selected.has(key);
    const kind = accessible.has(number) ? t('hall.accessible') : companion.has(number) ? t('hall.companion') : '';
    const state = selected ? t('seats.selected') : isFree ? t('seats.available') : t('seats.taken');
    return el('button', {
      type: 'button',
      class: 'seat' + (accessible.has(number) ? ' accessible' : companion.has(number) ? ' companion' : ''),
      text: String(number),
      disabled: !isFree,
      'aria-pressed': isFree ? String(selected) : null,
      'aria-label': t('seats.seat', { row: row.id, number, state }) + (kind ? ', ' + kind : ''),
      'data-key': key,
      onclick: () => toggleSeat(key, { section: section.id, row: row.id, number }),
    });
  });
  // A seat pressed in the list is redrawn: keep the keyboard's place on it,
  // or on the nearest seat still free if someone else just took it.
  const focused = document.activeElement && box.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  box.replaceChildren(el('div', { class: 'seats' }, buttons));
  if (!focused) return;
  const at = buttons.findIndex((b) => b.dataset.key === focused);
  const near = [...buttons.slice(at), ...buttons.slice(0, Math.max(at, 0)).reverse()].find((b) => !b.disabled);
  (near || $('pick-row')).focus();
}

function setUpHallControls() {
  $('zoom-in').addEventListener('click', () => zoomBy(1.6));
  $('zoom-out').addEventListener('click', () => zoomBy(1 / 1.6));
  $('zoom-fit').addEventListener('click', fitHall);
  $('pick-section').addEventListener('change', () => {
    choosePickerSection($('pick-section').value);
    zoomToSection(hall.pick.section);
  });
  $('pick-row').addEventListener('change', () => choosePickerSection(hall.pick.section, $('pick-row').value));
  window.addEventListener('resize', () => { if (hall.view) applyView(); });
}
