//! Name tables for the synthetic population: common Hong Kong surnames and given-name characters.
//!
//! Each character carries its Cantonese romanisation as the Immigration Department prints it on identity
//! cards, so that the English name is built from the same characters as the Chinese one.
//! A character has one romanisation throughout the tables; a test checks it.

/// Surname, romanisation, and a weight roughly following how common the surname is in Hong Kong.
/// 黃 and 王 are both WONG, as they are on real identity cards.
pub(crate) const SURNAMES: &[(char, &str, u32)] = &[
    ('陳', "CHAN", 80),
    ('李', "LEE", 50),
    ('黃', "WONG", 50),
    ('張', "CHEUNG", 35),
    ('梁', "LEUNG", 30),
    ('劉', "LAU", 28),
    ('林', "LAM", 25),
    ('王', "WONG", 20),
    ('吳', "NG", 18),
    ('何', "HO", 18),
    ('郭', "KWOK", 12),
    ('羅', "LAW", 12),
    ('鄭', "CHENG", 12),
    ('周', "CHOW", 12),
    ('楊', "YEUNG", 12),
    ('謝', "TSE", 10),
    ('麥', "MAK", 10),
    ('蔡', "CHOI", 10),
    ('胡', "WU", 10),
    ('曾', "TSANG", 10),
    ('朱', "CHU", 10),
    ('葉', "YIP", 10),
    ('馬', "MA", 10),
    ('蘇', "SO", 8),
    ('潘', "POON", 8),
    ('鄧', "TANG", 8),
    ('許', "HUI", 8),
    ('盧', "LO", 8),
    ('譚', "TAM", 8),
    ('余', "YU", 6),
    ('袁', "YUEN", 6),
    ('莫', "MOK", 5),
    ('廖', "LIU", 5),
    ('方', "FONG", 5),
    ('陸', "LUK", 4),
    ('高', "KO", 4),
    ('姚', "YIU", 4),
    ('孫', "SUEN", 4),
    ('范', "FAN", 3),
    ('石', "SHEK", 3),
];

/// Given-name characters for women, including a few that are used for either gender (嘉, 家, 子, 文).
pub(crate) const FEMALE_GIVEN: &[(char, &str)] = &[
    ('嘉', "Ka"),
    ('欣', "Yan"),
    ('美', "Mei"),
    ('玲', "Ling"),
    ('詠', "Wing"),
    ('思', "Sze"),
    ('婷', "Ting"),
    ('雅', "Nga"),
    ('晴', "Ching"),
    ('儀', "Yee"),
    ('慧', "Wai"),
    ('敏', "Man"),
    ('穎', "Wing"),
    ('淑', "Shuk"),
    ('芳', "Fong"),
    ('麗', "Lai"),
    ('寶', "Po"),
    ('珊', "Shan"),
    ('燕', "Yin"),
    ('潔', "Kit"),
    ('琪', "Kei"),
    ('莉', "Lei"),
    ('秀', "Sau"),
    ('詩', "Sze"),
    ('佩', "Pui"),
    ('韻', "Wan"),
    ('彤', "Tung"),
    ('曉', "Hiu"),
    ('心', "Sum"),
    ('靜', "Ching"),
    ('家', "Ka"),
    ('子', "Tsz"),
    ('文', "Man"),
];

/// Given-name characters for men, sharing the either-gender ones with `FEMALE_GIVEN`.
pub(crate) const MALE_GIVEN: &[(char, &str)] = &[
    ('大', "Tai"),
    ('文', "Man"),
    ('偉', "Wai"),
    ('明', "Ming"),
    ('浩', "Ho"),
    ('俊', "Chun"),
    ('傑', "Kit"),
    ('家', "Ka"),
    ('志', "Chi"),
    ('樂', "Lok"),
    ('國', "Kwok"),
    ('強', "Keung"),
    ('輝', "Fai"),
    ('華', "Wah"),
    ('建', "Kin"),
    ('健', "Kin"),
    ('榮', "Wing"),
    ('德', "Tak"),
    ('耀', "Yiu"),
    ('達', "Tat"),
    ('智', "Chi"),
    ('軒', "Hin"),
    ('朗', "Long"),
    ('峰', "Fung"),
    ('豪', "Ho"),
    ('永', "Wing"),
    ('天', "Tin"),
    ('卓', "Cheuk"),
    ('鴻', "Hung"),
    ('雄', "Hung"),
    ('宇', "Yu"),
    ('霖', "Lam"),
    ('康', "Hong"),
    ('銘', "Ming"),
    ('嘉', "Ka"),
    ('子', "Tsz"),
];

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use crate::names::{FEMALE_GIVEN, MALE_GIVEN, SURNAMES};

    #[test]
    fn there_are_at_least_twenty_five_surnames_and_none_is_listed_twice() {
        let distinct: HashSet<char> = SURNAMES.iter().map(|&(zh, _, _)| zh).collect();
        assert!(SURNAMES.len() >= 25);
        assert_eq!(distinct.len(), SURNAMES.len());
    }

    #[test]
    fn surname_romanisations_are_upper_case_and_weights_positive() {
        for &(zh, en, weight) in SURNAMES {
            assert!(!en.is_empty() && en.chars().all(|c| c.is_ascii_uppercase()), "{zh}");
            assert!(weight > 0, "{zh}");
        }
    }

    #[test]
    fn each_given_name_character_has_one_romanisation() {
        let mut romanisation_by_char: HashMap<char, &str> = HashMap::new();
        for &(zh, en) in FEMALE_GIVEN.iter().chain(MALE_GIVEN) {
            let mut letters = en.chars();
            assert!(letters.next().is_some_and(|c| c.is_ascii_uppercase()), "{zh}");
            assert!(letters.all(|c| c.is_ascii_lowercase()), "{zh}");
            let previous = romanisation_by_char.insert(zh, en);
            assert!(previous.is_none_or(|previous| previous == en), "{zh}");
        }
    }

    #[test]
    fn no_given_name_table_lists_a_character_twice() {
        for table in [FEMALE_GIVEN, MALE_GIVEN] {
            let distinct: HashSet<char> = table.iter().map(|&(zh, _)| zh).collect();
            assert_eq!(distinct.len(), table.len());
        }
    }
}
