//! The tickets as a PDF: one A4 page per ticket, with the event, the place,
//! the price, the buyer's name and the ticket's QR code (vector squares, so
//! it prints sharp at any size).
//!
//! Text is set in the PDF's built-in Helvetica with WinAnsiEncoding: every
//! reader has it, so no font file is shipped or embedded, and it covers
//! Latin-1 and a few more letters (Œ, Š, Ž, €). A letter outside it prints
//! as its base letter when it has one (`ř` as `r`), else as `?`.

use printpdf::lopdf;
use printpdf::{BuiltinFont, IndirectFontRef, Mm, PdfDocument, PdfDocumentReference, PdfLayerReference, Rect};
use qrcode::{Color, EcLevel, QrCode};

use super::{DocumentError, TicketLine, TicketPlace, TicketsDocument};

const PAGE_WIDTH_MM: f32 = 210.0;
const PAGE_HEIGHT_MM: f32 = 297.0;
const MARGIN_MM: f32 = 20.0;
/// The QR code's side, its quiet zone included.
const QR_SIDE_MM: f32 = 70.0;
/// The blank modules around a QR code that scanners need.
const QR_QUIET_MODULES: usize = 4;
/// Characters per line of the event's name at its size: A4 less margins
/// holds about this many in 20-point Helvetica (it has no line breaking).
const TITLE_CHARS_PER_LINE: usize = 42;
const TITLE_MAX_LINES: usize = 3;
/// Likewise for 12-point lines (the venue, the name).
const BODY_CHARS_PER_LINE: usize = 70;

/// The fonts a page uses.
struct Fonts {
    regular: IndirectFontRef,
    bold: IndirectFontRef,
    mono: IndirectFontRef,
}

/// The PDF of `tickets`: one page per ticket.
pub fn tickets_pdf(tickets: &TicketsDocument) -> Result<Vec<u8>, DocumentError> {
    // The library writes the title's UTF-8 bytes as they are, which readers
    // take for PDFDocEncoding: so an ASCII title.
    let title = format!("Tickets, order {}", tickets.order_id);
    let (document, first_page, first_layer) = PdfDocument::new(title, Mm(PAGE_WIDTH_MM), Mm(PAGE_HEIGHT_MM), "ticket");
    let fonts = Fonts {
        regular: add_font(&document, BuiltinFont::Helvetica)?,
        bold: add_font(&document, BuiltinFont::HelveticaBold)?,
        mono: add_font(&document, BuiltinFont::Courier)?,
    };
    let total = tickets.tickets.len();
    for (index, ticket) in tickets.tickets.iter().enumerate() {
        let layer = if index == 0 {
            document.get_page(first_page).get_layer(first_layer)
        } else {
            let (page, layer) = document.add_page(Mm(PAGE_WIDTH_MM), Mm(PAGE_HEIGHT_MM), "ticket");
            document.get_page(page).get_layer(layer)
        };
        draw_ticket(&layer, &fonts, tickets, ticket, (index + 1, total))?;
    }
    if total == 0 {
        // An order always has a ticket; still, never a page that says nothing.
        let layer = document.get_page(first_page).get_layer(first_layer);
        layer.use_text(printable(&tickets.event_name), 20.0, Mm(MARGIN_MM), Mm(270.0), &fonts.bold);
    }
    drop(fonts);
    finish(document, tickets)
}

fn add_font(document: &PdfDocumentReference, font: BuiltinFont) -> Result<IndirectFontRef, DocumentError> {
    document.add_builtin_font(font).map_err(|e| DocumentError::Pdf(e.to_string()))
}

/// Dates from the order, not the clock: the same order gives the same pages
/// (the library still draws the file's instance id by chance).
fn finish(document: PdfDocumentReference, tickets: &TicketsDocument) -> Result<Vec<u8>, DocumentError> {
    let made = i64::try_from(tickets.created_at.0 / 1000)
        .ok()
        .and_then(|s| printpdf::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(printpdf::OffsetDateTime::UNIX_EPOCH);
    let id: String = tickets.order_id.chars().filter(char::is_ascii_alphanumeric).collect();
    document
        .with_document_id(format!("{id:0>32}"))
        .with_creation_date(made)
        .with_mod_date(made)
        .with_metadata_date(made)
        .with_producer("Guichet")
        .save_to_bytes()
        .map_err(|e| DocumentError::Pdf(e.to_string()))
}

/// One ticket's page, top to bottom.
fn draw_ticket(
    layer: &PdfLayerReference,
    fonts: &Fonts,
    tickets: &TicketsDocument,
    ticket: &TicketLine,
    (nth, total): (usize, usize),
) -> Result<(), DocumentError> {
    let mut cursor = Cursor { layer, y_mm: PAGE_HEIGHT_MM - MARGIN_MM };
    cursor.line(&format!("E-ticket {nth} of {total}"), 10.0, &fonts.regular);
    cursor.gap(4.0);
    for line in wrap(&tickets.event_name, TITLE_CHARS_PER_LINE, TITLE_MAX_LINES) {
        cursor.line(&line, 20.0, &fonts.bold);
    }
    for line in wrap(&tickets.venue, BODY_CHARS_PER_LINE, 2) {
        cursor.line(&line, 12.0, &fonts.regular);
    }
    cursor.line(&tickets.starts_at, 12.0, &fonts.regular);
    cursor.gap(8.0);
    cursor.line(&place_text(&ticket.place), 16.0, &fonts.bold);
    cursor.line(&format!("{} — {}", ticket.tier, ticket.price), 12.0, &fonts.regular);
    if let Some(name) = &tickets.buyer_name {
        for line in wrap(&format!("Name: {name}"), BODY_CHARS_PER_LINE, 2) {
            cursor.line(&line, 12.0, &fonts.regular);
        }
    }
    cursor.line(&format!("Order {}", tickets.order_id), 12.0, &fonts.regular);
    if tickets.cancelled {
        cursor.gap(2.0);
        cursor.line("CANCELLED: this ticket is no longer valid.", 14.0, &fonts.bold);
    }
    cursor.gap(6.0);
    let qr_left_mm = (PAGE_WIDTH_MM - QR_SIDE_MM) / 2.0;
    draw_qr(layer, &ticket.code, qr_left_mm, cursor.y_mm)?;
    cursor.y_mm -= QR_SIDE_MM;
    cursor.line(&ticket.code, 6.0, &fonts.mono);
    cursor.gap(4.0);
    cursor.line("Show this code at the door: each ticket lets one person in, once.", 10.0, &fonts.regular);
    Ok(())
}

/// Where the next line goes, from the top of the page down.
struct Cursor<'a> {
    layer: &'a PdfLayerReference,
    y_mm: f32,
}

impl Cursor<'_> {
    fn line(&mut self, text: &str, size_pt: f32, font: &IndirectFontRef) {
        // A line's height: its size and a little leading, in millimetres.
        self.y_mm -= size_pt * 1.25 * 25.4 / 72.0;
        self.layer.use_text(printable(text), size_pt, Mm(MARGIN_MM), Mm(self.y_mm), font);
    }

    fn gap(&mut self, mm: f32) {
        self.y_mm -= mm;
    }
}

fn place_text(place: &TicketPlace) -> String {
    match place {
        TicketPlace::Seat { section, row, number } => format!("{section}, row {row}, seat {number}"),
        TicketPlace::GeneralAdmission { section } => format!("{section}, general admission"),
    }
}

/// The QR code of `code` as filled squares (one rectangle per run of dark
/// modules in a row), its top-left corner at (`left_mm`, `top_mm`).
fn draw_qr(layer: &PdfLayerReference, code: &str, left_mm: f32, top_mm: f32) -> Result<(), DocumentError> {
    let qr = QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M)
        .map_err(|e| DocumentError::QrCode(e.to_string()))?;
    let width = qr.width();
    let module_mm = QR_SIDE_MM / (width + 2 * QR_QUIET_MODULES) as f32;
    let origin_mm = (left_mm + QR_QUIET_MODULES as f32 * module_mm, top_mm - QR_QUIET_MODULES as f32 * module_mm);
    let colors = qr.to_colors();
    for (y, row) in colors.chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if row[x] == Color::Light {
                x += 1;
                continue;
            }
            let run_start = x;
            while x < width && row[x] == Color::Dark {
                x += 1;
            }
            let left = origin_mm.0 + run_start as f32 * module_mm;
            let top = origin_mm.1 - y as f32 * module_mm;
            let right = origin_mm.0 + x as f32 * module_mm;
            layer.add_rect(Rect::new(Mm(left), Mm(top - module_mm), Mm(right), Mm(top)));
        }
    }
    Ok(())
}

/// Words into lines of at most `chars` characters (a longer word is cut),
/// at most `max_lines` of them, the last ending in `…` when text is left.
fn wrap(text: &str, chars: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while !word.is_empty() {
            let used = current.chars().count();
            let room = if used == 0 { chars } else { chars.saturating_sub(used + 1) };
            if word.len() <= room {
                if used > 0 {
                    current.push(' ');
                }
                current.extend(word.drain(..));
            } else if used == 0 {
                current.extend(word.drain(..chars));
            } else {
                lines.push(std::mem::take(&mut current));
            }
            if current.chars().count() >= chars {
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let kept: String = last.chars().take(chars.saturating_sub(1)).collect();
            *last = kept + "…";
        }
    }
    lines
}

/// `text` with each letter the built-in font cannot show replaced by its base
/// letter (`ř` → `r`) or `?`: the PDF library would drop it silently.
fn printable(text: &str) -> String {
    let shown = |c: char| !lopdf::Document::encode_text(Some("WinAnsiEncoding"), c.encode_utf8(&mut [0; 4])).is_empty();
    text.chars()
        .map(|c| {
            if shown(c) {
                return c;
            }
            let mut base = None;
            unicode_normalization::char::decompose_canonical(c, |part| {
                base = base.or(Some(part));
            });
            base.filter(|&b| b != c && shown(b)).unwrap_or('?')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_wrap_on_words_and_stop_with_an_ellipsis() {
        assert_eq!(wrap("Céline Dion en concert", 12, 3), ["Céline Dion", "en concert"]);
        assert_eq!(wrap("abcdefghijklmnop", 5, 5), ["abcde", "fghij", "klmno", "p"]);
        assert_eq!(wrap("one two three four", 4, 2), ["one", "two…"]);
        assert!(wrap("", 10, 2).is_empty());
    }

    #[test]
    fn letters_outside_the_font_print_as_their_base_letter() {
        assert_eq!(printable("Céline à l'Amphithéâtre"), "Céline à l'Amphithéâtre");
        assert_eq!(printable("Dvořák Łukasz €"), "Dvorák ?ukasz €");
        assert_eq!(printable("東京"), "??");
    }
}
