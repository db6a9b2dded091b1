//! [`FlatMap`]: the map a resource's tags and attributes are held in; [`fitted_vec`]: a list read
//! from JSON without the room its growing left over.

use std::ops::{Deref, DerefMut};

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

/// A string-keyed map held as one sorted vector ([`LiteMap`]), sized to what it holds.
///
/// A resource carries two small maps (a few tags, a few attributes) and an organization of a
/// thousand accounts holds some 300,000 resources. A `BTreeMap` allocates a node for eleven
/// entries however few it holds (about 600 bytes for one attribute); this holds each entry once,
/// in key order, so it reads, serialises and compares as the `BTreeMap` did: a JSON object with
/// its keys sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlatMap<V>(LiteMap<String, V>);

impl<V> FlatMap<V> {
    pub const fn new() -> Self {
        FlatMap(LiteMap::new_vec())
    }

    /// The same map, its storage no larger than its entries.
    fn fitted(self) -> Self {
        let mut entries = self.0.into_tuple_vec();
        entries.shrink_to_fit();
        FlatMap(LiteMap::from_sorted_store_unchecked(entries))
    }
}

impl<V> Default for FlatMap<V> {
    fn default() -> Self {
        FlatMap::new()
    }
}

impl<V> Deref for FlatMap<V> {
    type Target = LiteMap<String, V>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<V> DerefMut for FlatMap<V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<V> FromIterator<(String, V)> for FlatMap<V> {
    /// Later entries replace earlier ones of the same key, as a `BTreeMap`'s do.
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        FlatMap(iter.into_iter().collect()).fitted()
    }
}

impl<V, const N: usize> From<[(String, V); N]> for FlatMap<V> {
    fn from(entries: [(String, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<V> IntoIterator for FlatMap<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_tuple_vec().into_iter()
    }
}

impl<'a, V> IntoIterator for &'a FlatMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.as_slice().iter().map(|(k, v)| (k, v))
    }
}

impl<V: Serialize> Serialize for FlatMap<V> {
    /// Always an object: `LiteMap` on its own writes an empty map as `[]`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for FlatMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(FlatMap(LiteMap::deserialize(d)?).fitted())
    }
}

/// A list read from JSON, its storage no larger than its items (`Vec`'s own reading grows it by
/// doubling, up to twice what it holds; a thousand accounts' stacks hold a million such items).
pub fn fitted_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let mut items = Vec::<T>::deserialize(d)?;
    items.shrink_to_fit();
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::FlatMap;
    use std::collections::BTreeMap;

    #[test]
    fn it_reads_and_writes_json_as_a_btree_map_does() {
        let json = r#"{"zone":"b","alpha":"a","mid":"m","alpha":"again"}"#;
        let flat: FlatMap<String> = serde_json::from_str(json).unwrap();
        let tree: BTreeMap<String, String> = serde_json::from_str(json).unwrap();
        assert_eq!(
            serde_json::to_string(&flat).unwrap(),
            serde_json::to_string(&tree).unwrap()
        );
        assert_eq!(flat.get("alpha").map(String::as_str), Some("again"));
        let empty: FlatMap<String> = serde_json::from_str("{}").unwrap();
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
    }

    #[test]
    fn collected_and_inserted_entries_stay_sorted_and_unique() {
        let mut m: FlatMap<u32> = [
            ("b".to_owned(), 1),
            ("a".to_owned(), 2),
            ("b".to_owned(), 3),
        ]
        .into_iter()
        .collect();
        assert_eq!(m.insert("c".into(), 4), None);
        assert_eq!(m.insert("a".into(), 5), Some(2));
        let pairs: Vec<(&String, &u32)> = (&m).into_iter().collect();
        assert_eq!(
            pairs,
            [
                (&"a".to_owned(), &5),
                (&"b".to_owned(), &3),
                (&"c".to_owned(), &4)
            ]
        );
    }
}
