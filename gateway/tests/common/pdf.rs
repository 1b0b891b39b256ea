//! A tickets PDF read back: each page's words, as a reader shows them.

use lopdf::content::Content;
use lopdf::{Document, Object};

/// The words of each page, a line per text operation. The pages' fonts must
/// say WinAnsiEncoding, the encoding the words are read in here (lopdf's own
/// text extraction reads StandardEncoding whatever the font says).
#[allow(dead_code)]
pub fn pages_text(bytes: &[u8]) -> Vec<String> {
    let pdf = Document::load_mem(bytes).expect("the PDF parses");
    pdf.get_pages().into_values().map(|page| page_text(&pdf, page)).collect()
}

fn page_text(pdf: &Document, page: lopdf::ObjectId) -> String {
    for (_, font) in pdf.get_page_fonts(page) {
        assert_eq!(font.get(b"Encoding").and_then(Object::as_name_str).ok(), Some("WinAnsiEncoding"));
    }
    let content = Content::decode(&pdf.get_page_content(page).expect("content")).expect("operations");
    let mut text = String::new();
    for op in content.operations.iter().filter(|op| op.operator == "Tj") {
        for operand in &op.operands {
            if let Object::String(bytes, _) = operand {
                text += &Document::decode_text(Some("WinAnsiEncoding"), bytes);
                text.push('\n');
            }
        }
    }
    text
}
