//! The tickets PDF read back as a reader and a door scanner would: its
//! pages, its words (accents included) and each page's QR code, decoded
//! from the squares drawn on the page.

mod common;

use common::pdf::pages_text;
use guichet::documents::{tickets_pdf, TicketLine, TicketPlace, TicketsDocument};
use guichet_engine::time::UnixTimeMs;
use lopdf::content::Content;
use lopdf::{Document, Object};

/// Signed codes are 113 characters of base64url and a dot.
fn code(n: u8) -> String {
    format!("AQEAAAAB{n:02}AAAAAAAAAAgAAAA.{}", "x_-Y".repeat(21))
}

fn document(buyer_name: Option<&str>) -> TicketsDocument {
    TicketsDocument {
        event_name: "Céline à l'Amphithéâtre".into(),
        venue: "Amphithéâtre Cogeco, Trois-Rivières".into(),
        starts_at: "Saturday 5 December 2026, 20:00 (UTC-05:00)".into(),
        order_id: "o1-2a".into(),
        buyer_name: buyer_name.map(str::to_owned),
        cancelled: false,
        created_at: UnixTimeMs(1_780_000_000_000),
        tickets: vec![
            TicketLine {
                place: TicketPlace::Seat { section: "Parterre".into(), row: "B".into(), number: 12 },
                tier: "Catégorie A".into(),
                price: "89.50 CAD".into(),
                code: code(1),
            },
            TicketLine {
                place: TicketPlace::GeneralAdmission { section: "Fosse".into() },
                tier: "Debout".into(),
                price: "45.00 CAD".into(),
                code: code(2),
            },
        ],
    }
}

#[test]
fn one_page_per_ticket_with_its_words() {
    let bytes = tickets_pdf(&document(Some("Céline Dion"))).expect("a PDF");
    assert!(bytes.starts_with(b"%PDF-"), "{:?}", &bytes[..8]);
    let pages = pages_text(&bytes);
    assert_eq!(pages.len(), 2, "one page per ticket");
    let first = &pages[0];
    for words in [
        "Céline à l'Amphithéâtre",
        "Amphithéâtre Cogeco, Trois-Rivières",
        "Saturday 5 December 2026, 20:00 (UTC-05:00)",
        "Parterre, row B, seat 12",
        "Catégorie A",
        "89.50 CAD",
        "Name: Céline Dion",
        "Order o1-2a",
        "E-ticket 1 of 2",
        &code(1),
    ] {
        assert!(first.contains(words), "{words:?} is not on page 1: {first:?}");
    }
    let second = &pages[1];
    assert!(second.contains("Fosse, general admission") && second.contains(&code(2)), "{second:?}");
    assert!(!first.contains("CANCELLED"), "{first:?}");
}

#[test]
fn a_buyer_without_a_name_gets_no_name_line_and_a_cancelled_order_says_so() {
    let mut tickets = document(None);
    tickets.cancelled = true;
    let text = &pages_text(&tickets_pdf(&tickets).expect("a PDF"))[0];
    assert!(!text.contains("Name:"), "{text:?}");
    assert!(text.contains("CANCELLED"), "{text:?}");
}

#[test]
fn each_pages_qr_code_reads_as_its_ticket_code() {
    let bytes = tickets_pdf(&document(Some("Céline Dion"))).expect("a PDF");
    let pdf = Document::load_mem(&bytes).expect("the PDF parses");
    for (number, page) in pdf.get_pages() {
        let content = Content::decode(&pdf.get_page_content(page).expect("content")).expect("operations");
        let squares: Vec<[f32; 4]> = content
            .operations
            .iter()
            .filter(|op| op.operator == "re")
            .map(|op| {
                let n: Vec<f32> = op.operands.iter().map(|o| Object::as_float(o).expect("a number")).collect();
                [n[0], n[1], n[2], n[3]]
            })
            .collect();
        assert_eq!(decode_squares(&squares), code(number as u8), "page {number}");
    }
}

/// Paints the squares on a white bitmap (4 pixels a point, a margin
/// around) and reads the QR code in it.
fn decode_squares(squares: &[[f32; 4]]) -> String {
    let scale = 4.0;
    let left = squares.iter().map(|s| s[0]).fold(f32::MAX, f32::min);
    let bottom = squares.iter().map(|s| s[1]).fold(f32::MAX, f32::min);
    let right = squares.iter().map(|s| s[0] + s[2]).fold(f32::MIN, f32::max);
    let top = squares.iter().map(|s| s[1] + s[3]).fold(f32::MIN, f32::max);
    let margin = 40;
    let width = ((right - left) * scale) as usize + 2 * margin;
    let height = ((top - bottom) * scale) as usize + 2 * margin;
    let mut pixels = vec![255u8; width * height];
    for [x, y, w, h] in squares {
        let x0 = ((x - left) * scale).round() as usize + margin;
        let x1 = ((x + w - left) * scale).round() as usize + margin;
        // PDF's y goes up; the bitmap's goes down.
        let y0 = ((top - (y + h)) * scale).round() as usize + margin;
        let y1 = ((top - y) * scale).round() as usize + margin;
        for row in y0..y1 {
            pixels[row * width + x0..row * width + x1].fill(0);
        }
    }
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    grids[0].decode().expect("the QR code decodes").1
}
