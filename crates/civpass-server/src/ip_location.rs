//! The IP location port over a MaxMind DB file (the format of GeoIP2 and GeoLite2 City, and of
//! DB-IP's and IPinfo's city databases), which the operator supplies and keeps current.
//!
//! The file is read into memory once at start-up; a lookup is a walk of its search tree, with no
//! I/O, so it can run on every `/authorize`.

use std::net::IpAddr;
use std::path::Path;

use civpass_core::oidc::login_context::{IpLocator, Place};
use maxminddb::{Reader, geoip2};

pub struct MaxMindLocator {
    reader: Reader<Vec<u8>>,
}

impl MaxMindLocator {
    /// Opens a City database; an error names what is wrong with the file.
    pub fn open(path: &Path) -> Result<MaxMindLocator, String> {
        let reader = Reader::open_readfile(path)
            .map_err(|e| format!("{} is not a MaxMind DB file: {e}", path.display()))?;
        Ok(MaxMindLocator { reader })
    }
}

/// `city, country`, or whichever of the two the database names.
fn joined(city: Option<&str>, country: Option<&str>) -> Option<String> {
    let parts: Vec<&str> =
        [city, country].into_iter().flatten().filter(|s| !s.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

impl IpLocator for MaxMindLocator {
    fn locate(&self, ip: IpAddr) -> Option<Place> {
        let record = self.reader.lookup(ip).ok()?.decode::<geoip2::City>().ok()??;
        let en = joined(record.city.names.english, record.country.names.english)?;
        let zh_hans =
            joined(record.city.names.simplified_chinese, record.country.names.simplified_chinese);
        Some(Place { en, zh_hans })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> MaxMindLocator {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/ip-location-test.mmdb");
        MaxMindLocator::open(&path).unwrap()
    }

    #[test]
    fn places_come_from_the_database_and_unknown_addresses_have_none() {
        let locator = fixture();
        let place = locator.locate("203.0.113.9".parse().unwrap()).unwrap();
        assert_eq!(place.en, "Kowloon, Hong Kong");
        assert_eq!(place.zh_hans.as_deref(), Some("九龙, 香港"));
        assert_eq!(
            locator.locate("2001:db8:8000::1".parse().unwrap()).unwrap().en,
            "Central, Hong Kong"
        );
        assert_eq!(locator.locate("8.8.8.8".parse().unwrap()), None);
        assert!(MaxMindLocator::open(Path::new("Cargo.toml")).is_err());
    }
}
