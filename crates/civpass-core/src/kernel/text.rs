//! Text that people type and other people are shown (a service's name, a registration point's,
//! an operator's reason, a name from the registry): the one check of what it may hold, so that
//! no such text can hide, reorder or blank what is displayed around it.

/// Characters a name shown to citizens may not hold: controls, format characters (bidi
/// embeddings, overrides and isolates, zero-width characters, tags), line and paragraph
/// separators, surrogates, private-use and unassigned code points (general categories C*, Zl,
/// Zp), and the default-ignorable characters of other categories (Hangul fillers, variation
/// selectors, the combining grapheme joiner): anything that hides, reorders or blanks text,
/// so that a name cannot display as another (Unicode TR 36 sections 2.1 and 3.6; UAX #44,
/// Default_Ignorable_Code_Point).
pub fn is_deceptive(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || matches!(
        c,
        '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// Most combining marks on one base character: real names need a few (Vietnamese stacks
/// two), "Zalgo" text stacks dozens to overdraw the lines around it.
const MAX_COMBINING_RUN: usize = 3;

/// Whether some character carries more than `MAX_COMBINING_RUN` combining marks.
pub fn too_many_marks(name: &str) -> bool {
    let mut run = 0;
    name.chars().any(|c| {
        run = if unicode_normalization::char::is_combining_mark(c) { run + 1 } else { 0 };
        run > MAX_COMBINING_RUN
    })
}

/// Text as kept: trimmed and in Unicode normalization form C, so that two texts that look
/// alike are alike.
pub fn normalise_text(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.trim().nfc().collect()
}

/// `text` normalised (`normalise_text`) if it is 1 to `max_chars` characters with nothing
/// deceptive in it (`is_deceptive`, `too_many_marks`); `None` otherwise.
pub fn display_text(text: &str, max_chars: usize) -> Option<String> {
    let text = normalise_text(text);
    let fits = !text.is_empty()
        && text.chars().count() <= max_chars
        && !text.chars().any(is_deceptive)
        && !too_many_marks(&text);
    fits.then_some(text)
}
