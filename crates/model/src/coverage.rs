//! What a scan saw and what it did not: accounts × regions × collectors, where Terraform state was
//! looked for and found, and what was left out and why. A picture built on missing data says so.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A scan's coverage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Coverage {
    /// How the regions were chosen: `option` (`--region`), `config` (`regions = […]`), `in use`
    /// (found per account), or `profile` (the management profile's region only).
    pub region_source: String,
    /// Per account: the regions scanned there and the collectors run and failed.
    pub accounts: Vec<AccountCoverage>,
    pub state: StateCoverage,
    /// Regions in use that the scan did not cover (named by a state's resources or a service's
    /// `provider.region`, or found in use while `regions` limited the scan).
    pub left_out: Vec<LeftOut>,
    /// Why no Terraform state was found at all, when none was (then what Terraform owns shows as
    /// unmanaged).
    #[serde(default)]
    pub no_state: Option<String>,
    /// Anything else not seen, each with the reason.
    pub skipped: Vec<String>,
    /// Something was not seen: an account or collector failed, a region was left out, or no
    /// Terraform state was found at all.
    pub partial: bool,
    /// The shard this scan was (`--shard i/n`): the other shards' accounts are not in it.
    #[serde(default)]
    pub shard: Option<Shard>,
    /// Which key hashed the values ([`crate::ValueHasher::fingerprint`]): hashes of two snapshots
    /// compare only when these are equal.
    #[serde(default)]
    pub value_key: Option<String>,
}

/// One of `count` shards of a scan: the accounts whose id falls to `index` (1-based). Every
/// machine divides an organization the same way, so shards run anywhere cover each account once.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Whether this shard scans the account: FNV-1a (64 bits) of the account id, modulo the count
    /// — stable across machines, versions and the order accounts are listed in.
    pub fn holds(&self, account_id: &str) -> bool {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in account_id.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h % u64::from(self.count.max(1)) == u64::from(self.index.saturating_sub(1))
    }

    /// What the scan of this shard leaves to the others, in words.
    pub fn note(&self, others: usize) -> String {
        format!(
            "{others} account(s) are scanned by the other shards of this scan (shard {self}): \
             they are seen once the shards are assembled (`stagecraft publish --assemble`)"
        )
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, crate::Error> {
        let bad = || {
            crate::Error::Input(format!(
                "`{s}` is not a shard: write it as i/n, the i-th of n shards (1 ≤ i ≤ n), e.g. 2/4"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_account_once_and_evenly() {
        let ids: Vec<String> = (0..1000u64)
            .map(|i| format!("{:012}", 100_000_000_000 + i * 7919))
            .collect();
        let shards: Vec<Shard> = (1..=4).map(|index| Shard { index, count: 4 }).collect();
        let mut sizes = [0usize; 4];
        for id in &ids {
            let holding: Vec<usize> = (0..4).filter(|&i| shards[i].holds(id)).collect();
            assert_eq!(holding.len(), 1, "{id} held by {holding:?}");
            sizes[holding[0]] += 1;
        }
        for n in sizes {
            assert!((200..=300).contains(&n), "uneven shards: {sizes:?}");
        }
        assert!(Shard { index: 1, count: 1 }.holds("123456789012"));
    }

    #[test]
    fn a_shard_is_read_as_i_of_n() {
        assert_eq!(
            "2/4".parse::<Shard>().expect("2/4"),
            Shard { index: 2, count: 4 }
        );
        for bad in ["0/4", "5/4", "2", "a/b", "1/0"] {
            let e = bad.parse::<Shard>().expect_err(bad).to_string();
            assert!(e.contains("i/n"), "{bad}: {e}");
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct AccountCoverage {
    pub account_id: String,
    pub regions: Vec<String>,
    /// Collector runs (one per regional collector and region, plus the global ones).
    pub collectors: u32,
    pub failed: u32,
    /// Calls spent finding the regions in use (0 when the regions were given).
    pub region_probe_calls: u32,
}

/// Where Terraform state was looked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StateCoverage {
    /// The backend `stagecraft.toml` names, if any (`s3://bucket/key` or a local path).
    pub configured: Option<String>,
    /// Whether every scanned account's buckets were searched.
    pub discovery: bool,
    pub accounts_searched: u32,
    pub buckets_probed: u32,
    /// S3 calls the search made (one `ListObjectsV2` page per bucket decides; state buckets are
    /// then listed in full).
    pub calls: u32,
    /// `s3://bucket` of every bucket holding `*.tfstate` objects, with its account.
    pub state_buckets: Vec<StateBucket>,
    pub states_read: u32,
    pub states_unreadable: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct StateBucket {
    pub bucket: String,
    pub account_id: String,
    pub region: String,
    pub states: u32,
    /// DynamoDB tables keyed by `LockID` in the same account and region, checked for locks.
    pub lock_tables: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct LeftOut {
    pub account_id: Option<String>,
    pub region: String,
    pub why: String,
}
