//! The synthetic population: determinism, validity of every record, and lookups.

use std::collections::HashSet;

use civpass_core::identity::hkid::HkId;
use civpass_core::identity::registry::{Gender, RegistrySource};
use civpass_registry::SandboxRegistry;
use time::Date;
use time::macros::date;

const REFERENCE_DATE: Date = date!(2026 - 01 - 01);

#[track_caller]
fn check_person(registry: &SandboxRegistry, person_idx: usize, expect: &str) {
    let person = &registry.people()[person_idx];
    let actual = format!(
        "{} | {} | {} | {} | {}",
        person.hkid,
        person.name_en,
        person.name_zh,
        person.date_of_birth,
        person.gender.as_str()
    );
    assert_eq!(actual, expect);
}

fn age_on(date_of_birth: Date, day: Date) -> i32 {
    let had_birthday =
        (day.month() as u8, day.day()) >= (date_of_birth.month() as u8, date_of_birth.day());
    day.year() - date_of_birth.year() - i32::from(!had_birthday)
}

#[test]
fn people_are_pinned_by_index() {
    let registry = SandboxRegistry::default();
    check_person(&registry, 0, "Z598120(5) | LAM Tung Pui | 林彤佩 | 2007-01-22 | female");
    check_person(&registry, 1, "B019600(8) | HUI Yu Lam | 許宇霖 | 1941-05-29 | male");
    check_person(&registry, 4, "K096350(A) | CHEUNG Fai Hung | 張輝鴻 | 1966-08-17 | male");
    check_person(&registry, 13, "XE605591(3) | CHAN Ming | 陳銘 | 1985-07-02 | male");
    check_person(&registry, 9999, "M065053(1) | LAU Ka Sum | 劉家心 | 2006-10-02 | female");
}

#[test]
fn the_default_population_has_ten_thousand_people() {
    assert_eq!(SandboxRegistry::default().people().len(), 10_000);
}

#[test]
fn two_generations_are_identical() {
    assert!(
        SandboxRegistry::generate(10_000).people() == SandboxRegistry::generate(10_000).people()
    );
}

#[test]
fn a_smaller_population_is_a_prefix_of_a_larger_one() {
    let large = SandboxRegistry::generate(2_000);
    let small = SandboxRegistry::generate(500);
    assert!(small.people() == &large.people()[..500]);
    assert!(SandboxRegistry::generate(0).people().is_empty());
}

#[test]
fn every_hkid_is_unique_and_round_trips_through_parse() {
    let registry = SandboxRegistry::default();
    let mut seen = HashSet::new();
    for person in registry.people() {
        assert!(seen.insert(person.hkid.clone()), "duplicate HKID");
        assert_eq!(HkId::parse(&person.hkid.to_string()).as_ref(), Ok(&person.hkid));
        assert_eq!(HkId::parse(person.hkid.as_str()).as_ref(), Ok(&person.hkid));
    }
}

#[test]
fn some_hkids_have_two_letter_prefixes_and_some_have_check_character_a() {
    let registry = SandboxRegistry::default();
    let n_two_letter = registry
        .people()
        .iter()
        .filter(|p| p.hkid.as_str().as_bytes()[1].is_ascii_uppercase())
        .count();
    let n_check_a = registry.people().iter().filter(|p| p.hkid.as_str().ends_with('A')).count();
    // About one in ten of each is expected; the bounds only guard against a mix that collapsed.
    assert!((500..2_000).contains(&n_two_letter), "{n_two_letter}");
    assert!((400..2_000).contains(&n_check_a), "{n_check_a}");
}

#[test]
fn english_names_are_a_capitalised_surname_then_one_syllable_per_given_character() {
    for person in SandboxRegistry::default().people() {
        let mut words = person.name_en.split(' ');
        let surname = words.next().unwrap_or_default();
        assert!(!surname.is_empty() && surname.chars().all(|c| c.is_ascii_uppercase()));
        let given: Vec<&str> = words.collect();
        assert!((1..=2).contains(&given.len()));
        for syllable in &given {
            let mut letters = syllable.chars();
            assert!(letters.next().is_some_and(|c| c.is_ascii_uppercase()));
            assert!(letters.all(|c| c.is_ascii_lowercase()));
        }
        assert_eq!(person.name_zh.chars().count(), 1 + given.len());
    }
}

#[test]
fn chinese_and_english_surnames_agree() {
    // An independent spot-check table rather than the crate's own, covering the most common surnames.
    let known: &[(char, &str)] = &[
        ('陳', "CHAN"),
        ('黃', "WONG"),
        ('李', "LEE"),
        ('張', "CHEUNG"),
        ('劉', "LAU"),
        ('吳', "NG"),
        ('林', "LAM"),
        ('梁', "LEUNG"),
        ('何', "HO"),
        ('郭', "KWOK"),
        ('馬', "MA"),
        ('羅', "LAW"),
        ('鄭', "CHENG"),
        ('周', "CHOW"),
        ('謝', "TSE"),
        ('麥', "MAK"),
        ('蔡', "CHOI"),
        ('胡', "WU"),
        ('曾', "TSANG"),
        ('朱', "CHU"),
        ('葉', "YIP"),
        ('蘇', "SO"),
        ('潘', "POON"),
        ('鄧', "TANG"),
        ('許', "HUI"),
    ];
    let registry = SandboxRegistry::default();
    let mut n_checked = 0;
    for person in registry.people() {
        let surname_zh = person.name_zh.chars().next();
        let surname_en = person.name_en.split(' ').next();
        if let Some(&(_, expected_en)) = known.iter().find(|&&(zh, _)| Some(zh) == surname_zh) {
            assert_eq!(surname_en, Some(expected_en), "{}", person.name_en);
            n_checked += 1;
        }
    }
    assert!(n_checked > registry.people().len() / 2, "{n_checked}");
}

#[test]
fn ages_are_between_11_and_95_on_the_reference_date() {
    let registry = SandboxRegistry::default();
    let ages: Vec<i32> =
        registry.people().iter().map(|p| age_on(p.date_of_birth, REFERENCE_DATE)).collect();
    assert!(ages.iter().all(|age| (11..=95).contains(age)));
    // The whole range is used, not a narrow band of it.
    assert!(ages.iter().any(|&age| age <= 13));
    assert!(ages.iter().any(|&age| age >= 93));
}

#[test]
fn both_genders_are_present_in_similar_numbers() {
    let registry = SandboxRegistry::default();
    let n_female = registry.people().iter().filter(|p| p.gender == Gender::Female).count();
    let n_male = registry.people().iter().filter(|p| p.gender == Gender::Male).count();
    assert!(n_female > 4_000 && n_male > 4_000, "{n_female} {n_male}");
}

#[test]
fn find_returns_the_person_with_that_hkid() {
    let registry = SandboxRegistry::default();
    for person_idx in [0, 1, 4_321, 9_999] {
        let person = &registry.people()[person_idx];
        let found = registry.find(&person.hkid);
        assert!(found == Some(person), "person {person_idx}");
    }
}

#[test]
fn find_misses_a_valid_hkid_outside_the_population() {
    let registry = SandboxRegistry::default();
    let outsider = (0..1_000_000)
        .map(|n| HkId::from_parts("A", &format!("{n:06}")).unwrap())
        .find(|hkid| registry.people().iter().all(|p| p.hkid != *hkid))
        .unwrap();
    assert!(registry.find(&outsider).is_none());
}

#[tokio::test]
async fn find_person_agrees_with_find() {
    let registry = SandboxRegistry::generate(100);
    let person = &registry.people()[42];
    assert!(registry.find_person(&person.hkid).await.unwrap().as_ref() == Some(person));
    let outsider = HkId::parse("A123456(3)").unwrap();
    assert_eq!(
        registry.find(&outsider).is_none(),
        registry.find_person(&outsider).await.unwrap().is_none()
    );
}

#[test]
fn debug_output_shows_only_the_size() {
    assert_eq!(format!("{:?}", SandboxRegistry::generate(3)), "SandboxRegistry { n_people: 3 }");
}
