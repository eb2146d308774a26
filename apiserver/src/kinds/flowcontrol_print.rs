//! Upstream's printers of FlowSchema (`NAME PRIORITYLEVEL MATCHINGPRECEDENCE
//! DISTINGUISHERMETHOD AGE MISSINGPL`) and PriorityLevelConfiguration (`NAME TYPE
//! NOMINALCONCURRENCYSHARES QUEUES HANDSIZE QUEUELENGTHLIMIT AGE`, for v1beta2 too).

use serde_json::{Value, json};

use crate::table::printers::common::{AGE, Col, Doc, NAME, Printer, cells, created, name};

const NONE: &str = "<none>";

/// FlowSchema columns and cells.
pub fn flow_schema() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "PriorityLevel",
                "string",
                0,
                Doc::Text(
                    "`name` is the name of the priority level configuration being referenced Required.",
                ),
            ),
            Col(
                "MatchingPrecedence",
                "string",
                0,
                Doc::Text(
                    "`matchingPrecedence` is used to choose among the FlowSchemas that match a given request. The chosen FlowSchema is among those with the numerically lowest (which we take to be logically highest) MatchingPrecedence.  Each MatchingPrecedence value must be ranged in [1,10000]. Note that if the precedence is not specified, it will be set to 1000 as default.",
                ),
            ),
            Col(
                "DistinguisherMethod",
                "string",
                0,
                Doc::Text(
                    "`distinguisherMethod` defines how to compute the flow distinguisher for requests that match this schema. `nil` specifies that the distinguisher is disabled and thus will always be the empty string.",
                ),
            ),
            AGE,
            Col(
                "MissingPL",
                "string",
                0,
                Doc::Text("references a broken or non-existent PriorityLevelConfiguration"),
            ),
        ],
        print: |o, now| {
            let pl = o
                .pointer("/spec/priorityLevelConfiguration/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let precedence = o
                .pointer("/spec/matchingPrecedence")
                .cloned()
                .unwrap_or(json!(0));
            let method = o
                .pointer("/spec/distinguisherMethod/type")
                .and_then(Value::as_str)
                .unwrap_or(NONE);
            let missing = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Dangling"))
                .and_then(|c| c.get("status").and_then(Value::as_str))
                .unwrap_or("?");
            cells([
                name(o),
                json!(pl),
                precedence,
                json!(method),
                created(o, now),
                json!(missing),
            ])
        },
    }
}

/// PriorityLevelConfiguration columns and cells.
pub fn priority_level() -> Printer {
    Printer {
        columns: vec![
            NAME,
            Col(
                "Type",
                "string",
                0,
                Doc::Text(
                    "`type` indicates whether this priority level is subject to limitation on request execution.  A value of `\"Exempt\"` means that requests of this priority level are not subject to a limit (and thus are never queued) and do not detract from the capacity made available to other priority levels.  A value of `\"Limited\"` means that (a) requests of this priority level _are_ subject to limits and (b) some of the server's limited capacity is made available exclusively to this priority level. Required.",
                ),
            ),
            Col(
                "NominalConcurrencyShares",
                "string",
                0,
                Doc::Text(
                    "`nominalConcurrencyShares` (NCS) contributes to the computation of the NominalConcurrencyLimit (NominalCL) of this level. This is the number of execution seats available at this priority level. This is used both for requests dispatched from this priority level as well as requests dispatched from other priority levels borrowing seats from this level. The server's concurrency limit (ServerCL) is divided among the Limited priority levels in proportion to their NCS values:\n\nNominalCL(i)  = ceil( ServerCL * NCS(i) / sum_ncs ) sum_ncs = sum[priority level k] NCS(k)\n\nBigger numbers mean a larger nominal concurrency limit, at the expense of every other priority level. This field has a default value of 30.",
                ),
            ),
            Col(
                "Queues",
                "string",
                0,
                Doc::Text(
                    "`queues` is the number of queues for this priority level. The queues exist independently at each apiserver. The value must be positive.  Setting it to 1 effectively precludes shufflesharding and thus makes the distinguisher method of associated flow schemas irrelevant.  This field has a default value of 64.",
                ),
            ),
            Col(
                "HandSize",
                "string",
                0,
                Doc::Text(
                    "`handSize` is a small positive number that configures the shuffle sharding of requests into queues.  When enqueuing a request at this priority level the request's flow identifier (a string pair) is hashed and the hash value is used to shuffle the list of queues and deal a hand of the size specified here.  The request is put into one of the shortest queues in that hand. `handSize` must be no larger than `queues`, and should be significantly smaller (so that a few heavy flows do not saturate most of the queues).  See the user-facing documentation for more extensive guidance on setting this field.  This field has a default value of 8.",
                ),
            ),
            Col(
                "QueueLengthLimit",
                "string",
                0,
                Doc::Text(
                    "`queueLengthLimit` is the maximum number of requests allowed to be waiting in a given queue of this priority level at a time; excess requests are rejected.  This value must be positive.  If not specified, it will be defaulted to 50.",
                ),
            ),
            AGE,
        ],
        print: |o, now| {
            let t = o
                .pointer("/spec/type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let limited = o.pointer("/spec/limited").filter(|l| !l.is_null());
            let shares = limited
                .and_then(|l| {
                    l.get("nominalConcurrencyShares")
                        .or_else(|| l.get("assuredConcurrencyShares"))
                })
                .cloned()
                .unwrap_or(json!(NONE));
            let q = |k: &str| {
                limited
                    .and_then(|l| l.pointer(&format!("/limitResponse/queuing/{k}")))
                    .cloned()
                    .unwrap_or(json!(NONE))
            };
            cells([
                name(o),
                json!(t),
                shares,
                q("queues"),
                q("handSize"),
                q("queueLengthLimit"),
                created(o, now),
            ])
        },
    }
}
