//! Generation of the synthetic population.
//!
//! Every person gets their own generator, seeded from a fixed master sequence, so person `i` depends only on
//! `i` and, in the rare case of an HKID collision, on which numbers earlier people took.

use std::collections::HashSet;

use civpass_core::identity::hkid::HkId;
use civpass_core::identity::registry::{Gender, RegistryRecord};
use time::macros::date;
use time::{Date, Duration};

use crate::names::{FEMALE_GIVEN, MALE_GIVEN, SURNAMES};
use crate::splitmix::SplitMix64;

/// Changing it changes everyone; tests pin people by index.
const SEED: u64 = 0x0C1F_7A55_2026_0101;

/// Ages are relative to 2026-01-01, not to today, so the population never drifts.
/// The youngest are 11 on that date and the oldest 95, a day short of 96.
const LATEST_BIRTH_DATE: Date = date!(2015 - 01 - 01);
const EARLIEST_BIRTH_DATE: Date = date!(1930 - 01 - 02);

/// Prefixes in use on current identity cards.
const ONE_LETTER_PREFIXES: &[&str] = &[
    "A", "B", "C", "D", "E", "F", "G", "H", "K", "L", "M", "N", "P", "R", "S", "T", "V", "W", "Y",
    "Z",
];
/// Two-letter prefixes exist but are rare, so about one person in ten gets one.
const TWO_LETTER_PREFIXES: &[&str] = &["WX", "XA", "XB", "XC", "XD", "XE", "XG"];

pub(crate) fn generate(n_people: usize) -> Vec<RegistryRecord> {
    let mut seeds = SplitMix64::new(SEED);
    let mut taken = HashSet::with_capacity(n_people);
    let mut people = Vec::with_capacity(n_people);
    for _ in 0..n_people {
        let mut rng = SplitMix64::new(seeds.next_u64());
        let hkid = unused_hkid(&mut rng, &taken);
        taken.insert(hkid.clone());
        people.push(person(&mut rng, hkid));
    }
    name_guardians(&mut people);
    people
}

/// Anyone born on or after this date may be a minor while the sandbox is used (18 in 2026).
const MAY_BE_MINOR_FROM: Date = date!(2008 - 01 - 01);

/// Gives each person who may be a minor up to two guardians: the nearest earlier people (by
/// index, so adding people never changes anyone's guardians) born 20 to 50 years before them.
/// A pass after generation, so nobody's own details change.
fn name_guardians(people: &mut [RegistryRecord]) {
    for i in 0..people.len() {
        let born = people[i].date_of_birth;
        if born < MAY_BE_MINOR_FROM {
            continue;
        }
        let guardians: Vec<HkId> = people[..i]
            .iter()
            .rev()
            .take(200)
            .filter(|p| {
                let gap = (born - p.date_of_birth).whole_days();
                (20 * 365..=50 * 365).contains(&gap)
            })
            .take(2)
            .map(|p| p.hkid.clone())
            .collect();
        people[i].guardians = guardians;
    }
}

fn unused_hkid(rng: &mut SplitMix64, taken: &HashSet<HkId>) -> HkId {
    // A collision is rare (ten thousand people among twenty million numbers) and the next draw almost
    // surely succeeds; `from_parts` cannot fail on a valid prefix and six digits.
    loop {
        let prefix = if rng.below(10) == 0 {
            rng.pick(TWO_LETTER_PREFIXES)
        } else {
            rng.pick(ONE_LETTER_PREFIXES)
        };
        let digits = format!("{:06}", rng.below(1_000_000));
        if let Ok(hkid) = HkId::from_parts(prefix, &digits)
            && !taken.contains(&hkid)
        {
            return hkid;
        }
    }
}

fn person(rng: &mut SplitMix64, hkid: HkId) -> RegistryRecord {
    let gender = if rng.below(2) == 0 { Gender::Female } else { Gender::Male };
    let (surname_zh, surname_en) = surname(rng);
    let given_table = match gender {
        Gender::Female => FEMALE_GIVEN,
        Gender::Male => MALE_GIVEN,
    };
    // Most Hong Kong given names have two characters; some have one.
    let n_given_chars = if rng.below(10) == 0 { 1 } else { 2 };
    let mut given: Vec<(char, &str)> = Vec::with_capacity(n_given_chars);
    while given.len() < n_given_chars {
        let &(zh, en) = rng.pick(given_table);
        // Repeated characters (玲玲) exist but read as nicknames, so they are avoided.
        if given.iter().all(|&(taken_zh, _)| taken_zh != zh) {
            given.push((zh, en));
        }
    }

    let mut name_zh = String::from(surname_zh);
    name_zh.extend(given.iter().map(|&(zh, _)| zh));
    let mut name_en = String::from(surname_en);
    for (_, en) in &given {
        name_en.push(' ');
        name_en.push_str(en);
    }

    let n_days = (LATEST_BIRTH_DATE - EARLIEST_BIRTH_DATE).whole_days();
    let day_offset = rng.below(n_days.unsigned_abs() + 1);
    let date_of_birth = EARLIEST_BIRTH_DATE + Duration::days(day_offset as i64);

    RegistryRecord { hkid, name_en, name_zh, date_of_birth, gender, guardians: Vec::new() }
}

fn surname(rng: &mut SplitMix64) -> (char, &'static str) {
    let total_weight: u64 = SURNAMES.iter().map(|&(_, _, weight)| u64::from(weight)).sum();
    let mut remaining = rng.below(total_weight);
    for &(zh, en, weight) in SURNAMES {
        let weight = u64::from(weight);
        if remaining < weight {
            return (zh, en);
        }
        remaining -= weight;
    }
    // Not reached, since `remaining` starts below the sum of the weights.
    (SURNAMES[0].0, SURNAMES[0].1)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use civpass_core::identity::registry::Gender;

    use crate::names::{FEMALE_GIVEN, MALE_GIVEN, SURNAMES};
    use crate::population::generate;

    #[test]
    fn every_chinese_name_romanises_to_the_english_name() {
        let surnames: HashMap<char, &str> = SURNAMES.iter().map(|&(zh, en, _)| (zh, en)).collect();
        let female: HashMap<char, &str> = FEMALE_GIVEN.iter().copied().collect();
        let male: HashMap<char, &str> = MALE_GIVEN.iter().copied().collect();
        for person in generate(10_000) {
            let given = match person.gender {
                Gender::Female => &female,
                Gender::Male => &male,
            };
            let mut chars = person.name_zh.chars();
            let mut expected =
                chars.next().and_then(|c| surnames.get(&c)).expect("known surname").to_string();
            for c in chars {
                expected.push(' ');
                expected.push_str(given.get(&c).expect("gender-appropriate given-name character"));
            }
            assert_eq!(person.name_en, expected);
        }
    }

    #[test]
    fn common_surnames_are_more_common_than_rare_ones() {
        let people = generate(10_000);
        let count =
            |surname: char| people.iter().filter(|p| p.name_zh.starts_with(surname)).count();
        assert!(count('陳') > count('石') * 5);
    }
}
