//! What one cached pod costs the syncer: memory per pod in a typed and in a packed store, and
//! the CPU of decoding a watch event with and without cutting `managedFields` first, of packing
//! and of unpacking. The pod is a Running Deployment pod as the embedded API server serves it
//! (three field managers). Prints a table and a final JSON line.
//!
//! `cargo run --release -p syncer --example cache_bench -- [PODS]`

use std::hint::black_box;
use std::time::Instant;

use k8s_openapi::api::core::v1::Pod;
use syncer::cache::Store;
use syncer::cache::packed::Packing;
use syncer::cache::trim::Trimmed;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const POD: &str = include_str!("running_pod.json");

/// Resident memory of this process (bytes), from `/proc/self/statm`.
fn rss() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Pod `i`: the sample decoded as the watch does (managedFields cut), with its own name and uid.
fn pod(i: usize) -> anyhow::Result<Pod> {
    let Trimmed(mut p) = serde_json::from_str::<Trimmed<Pod>>(POD)?;
    p.metadata.name = Some(format!("web-{i}"));
    p.metadata.uid = Some(format!("uid-{i}"));
    Ok(p)
}

/// RSS growth per pod of a store fed `n` pods as a watch feeds it.
fn bytes_per_pod(n: usize, store: Store<Pod>) -> anyhow::Result<f64> {
    let before = rss();
    for i in 0..n {
        store.apply(pod(i)?);
    }
    let per = (rss() - before) as f64 / n as f64;
    black_box(&store);
    Ok(per)
}

/// Mean nanoseconds of `f` over `n` runs.
fn time(n: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone());
    let packed = bytes_per_pod(
        n,
        Store::packed(Packing {
            keys: &[],
            extra: node,
        }),
    )?;
    let typed = bytes_per_pod(n, Store::new())?;
    let decode_full = time(n, || {
        black_box(serde_json::from_str::<Pod>(black_box(POD)).ok());
    });
    let decode_trimmed = time(n, || {
        black_box(serde_json::from_str::<Trimmed<Pod>>(black_box(POD)).ok());
    });
    let store = Store::packed(Packing {
        keys: &[],
        extra: node,
    });
    let sample = pod(0)?;
    let pack = time(n, || {
        black_box(store.apply(sample.clone()));
    });
    let unpack = time(n, || {
        black_box(store.get("app", "web-0"));
    });
    println!("| measure ({n} pods, JSON {} B) | value |", POD.len());
    println!("| --- | --- |");
    println!("| typed store, RSS per pod | {typed:.0} B |");
    println!("| packed store, RSS per pod | {packed:.0} B |");
    println!(
        "| decode watch object, whole | {:.1} µs |",
        decode_full / 1000.0
    );
    println!(
        "| decode watch object, managedFields cut first | {:.1} µs |",
        decode_trimmed / 1000.0
    );
    println!(
        "| pack (store.apply, clone included) | {:.1} µs |",
        pack / 1000.0
    );
    println!("| unpack (store.get) | {:.1} µs |", unpack / 1000.0);
    println!(
        "{{\"bench\":\"cache\",\"pods\":{n},\"typed_bytes_per_pod\":{typed:.0},\"packed_bytes_per_pod\":{packed:.0},\"decode_full_ns\":{decode_full:.0},\"decode_trimmed_ns\":{decode_trimmed:.0},\"pack_ns\":{pack:.0},\"unpack_ns\":{unpack:.0}}}"
    );
    Ok(())
}
