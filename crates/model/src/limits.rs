//! The limits one account per stage exists for: CloudFormation stacks per account and region, Lambda
//! concurrent executions, and resources per stack (the Serverless Framework's classic 500).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Resources one CloudFormation stack may hold.
pub const STACK_RESOURCE_LIMIT: u32 = 500;
/// Use at or above this share of a limit is `near-limit`.
pub const NEAR: f64 = 0.8;

/// One region of an account against its limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS, PartialEq, Eq)]
#[ts(export)]
pub struct RegionLimits {
    pub region: String,
    /// Live stacks, and the account's `StackLimit` (`cloudformation:DescribeAccountLimits`).
    pub stacks: u32,
    pub stack_limit: Option<u32>,
    /// The stack with the most resources, and how many.
    pub largest_stack: Option<String>,
    pub largest_stack_resources: u32,
    /// Lambda's concurrent executions limit and what no function has reserved
    /// (`lambda:GetAccountSettings`).
    pub concurrency_limit: Option<u32>,
    pub unreserved_concurrency: Option<u32>,
    /// Function name → its reserved concurrency (read only when the reservations near the limit).
    #[ts(type = "Record<string, number>")]
    pub reserved: BTreeMap<String, u32>,
    /// A limit that could not be read, with why.
    pub errors: Vec<String>,
}

impl RegionLimits {
    /// `(what, used, limit)` of each limit this region is near (at or above [`NEAR`]).
    pub fn near(&self) -> Vec<(String, u32, u32)> {
        let near = |used: u32, limit: u32| limit > 0 && f64::from(used) >= NEAR * f64::from(limit);
        let mut out = Vec::new();
        if let Some(limit) = self.stack_limit {
            if near(self.stacks, limit) {
                out.push(("CloudFormation stacks".to_owned(), self.stacks, limit));
            }
        }
        if let (Some(name), n) = (&self.largest_stack, self.largest_stack_resources) {
            if near(n, STACK_RESOURCE_LIMIT) {
                out.push((
                    format!("resources in stack {name}"),
                    n,
                    STACK_RESOURCE_LIMIT,
                ));
            }
        }
        if let (Some(limit), Some(unreserved)) =
            (self.concurrency_limit, self.unreserved_concurrency)
        {
            let reserved = limit.saturating_sub(unreserved);
            if near(reserved, limit) {
                out.push((
                    "Lambda concurrency reserved by functions".to_owned(),
                    reserved,
                    limit,
                ));
            }
        }
        out
    }

    /// Drops what `collector` found (CloudFormation's stacks, Lambda's concurrency), before it
    /// is read again.
    pub fn forget(&mut self, collector: crate::Collector) {
        let prefix = match collector {
            crate::Collector::Cloudformation => {
                self.stacks = 0;
                self.stack_limit = None;
                self.largest_stack = None;
                self.largest_stack_resources = 0;
                "cloudformation:"
            }
            crate::Collector::Lambda => {
                self.concurrency_limit = None;
                self.unreserved_concurrency = None;
                self.reserved.clear();
                "lambda:"
            }
            _ => return,
        };
        self.errors.retain(|e| !e.starts_with(prefix));
    }

    /// Folds what another collector found in the same region into this one.
    pub fn merge(&mut self, other: RegionLimits) {
        if other.stack_limit.is_some() || other.stacks > 0 {
            self.stacks = other.stacks;
            self.stack_limit = other.stack_limit.or(self.stack_limit);
        }
        if other.largest_stack.is_some() {
            self.largest_stack = other.largest_stack;
            self.largest_stack_resources = other.largest_stack_resources;
        }
        if other.concurrency_limit.is_some() {
            self.concurrency_limit = other.concurrency_limit;
            self.unreserved_concurrency = other.unreserved_concurrency;
        }
        self.reserved.extend(other.reserved);
        self.errors.extend(other.errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_is_near_at_eighty_percent() {
        let mut r = RegionLimits {
            region: "us-east-1".into(),
            stacks: 159,
            stack_limit: Some(200),
            largest_stack: Some("api-prod".into()),
            largest_stack_resources: 399,
            concurrency_limit: Some(1000),
            unreserved_concurrency: Some(201),
            ..RegionLimits::default()
        };
        assert!(r.near().is_empty());
        r.stacks = 160;
        r.largest_stack_resources = 400;
        r.unreserved_concurrency = Some(200);
        let near: Vec<(String, u32, u32)> = r.near();
        assert_eq!(
            near,
            [
                ("CloudFormation stacks".to_owned(), 160, 200),
                ("resources in stack api-prod".to_owned(), 400, 500),
                (
                    "Lambda concurrency reserved by functions".to_owned(),
                    800,
                    1000
                ),
            ]
        );
    }
}
