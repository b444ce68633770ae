//! Codec throughput and allocations: decode and encode, XML and WBXML, for a package-1-sized
//! message and for ~100 KB messages.
//!
//! Run: `cargo bench -p omadm-protocol --bench codec -- --warm-up-time 1 --measurement-time 3`.
//! Before criterion runs, a table of allocations per message is printed (counted by the global
//! allocator below). Results and the libwbxml reference are in BENCHMARKS.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use criterion::{Criterion, Throughput};
use omadm_protocol::{
    Command, Data, Encoding, Format, Item, ItemCommand, Limits, Location, Meta, Results, SyncMl, decode_as,
    encode,
};

/// Counts allocator calls and the bytes they ask for, and forwards everything to [`System`].
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the only other effect is bumping relaxed atomic counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        REALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size.saturating_sub(layout.size()) as u64, Relaxed);
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const PKG1_XML: &[u8] = include_bytes!("../tests/vectors/cm_omadm_pkg1.xml");
const LIBDMCLIENT_WBXML: &[u8] = include_bytes!("../tests/vectors/libdmclient_wbxml.wbxml");

/// Items in the "many items" message: about 100 KB of XML.
const MANY_ITEMS: usize = 400;
/// Bytes of Data per item of the "many items" message.
const ITEM_DATA_BYTES: usize = 200;
/// Bytes of the one Data value of the "one chunk" message.
const CHUNK_BYTES: usize = 100 * 1024;

/// One message under test, in both encodings.
struct Input {
    name: &'static str,
    model: SyncMl,
    xml: Vec<u8>,
    wbxml: Vec<u8>,
}

impl Input {
    /// `xml` as given (a capture), WBXML from our own encoder.
    fn from_xml(name: &'static str, xml: &[u8]) -> Input {
        let model = decode_as(xml, Encoding::Xml, &Limits::DEFAULT).expect("vector decodes");
        let wbxml = encode(&model, Encoding::Wbxml);
        Input { name, model, xml: xml.to_vec(), wbxml }
    }

    /// Both encodings from our own encoder.
    fn from_model(name: &'static str, model: SyncMl) -> Input {
        let xml = encode(&model, Encoding::Xml);
        let wbxml = encode(&model, Encoding::Wbxml);
        Input { name, model, xml, wbxml }
    }

    fn bytes(&self, encoding: Encoding) -> &[u8] {
        match encoding {
            Encoding::Xml => &self.xml,
            Encoding::Wbxml => &self.wbxml,
        }
    }
}

/// Package 1's header reused for the large messages, with the body replaced.
fn with_body(pkg1: &SyncMl, command: Command) -> SyncMl {
    let mut msg = pkg1.clone();
    msg.hdr.cred = None;
    msg.body.commands = vec![command];
    msg.body.is_final = true;
    msg
}

/// A Results with [`MANY_ITEMS`] leaves of ./Vendor/... with [`ITEM_DATA_BYTES`] of text each.
fn many_items(pkg1: &SyncMl) -> SyncMl {
    let items = (0..MANY_ITEMS)
        .map(|i| {
            let data: String =
                (0..ITEM_DATA_BYTES).map(|j| char::from(b'a' + ((i + j) % 26) as u8)).collect();
            Item {
                source: Some(Location::uri(format!("./Vendor/Bench/Node{:03}/Leaf{i:04}", i / 16))),
                meta: Some(Meta::with_format_and_type(Format::Chr, "text/plain")),
                data: Some(Data::Text(data)),
                ..Item::default()
            }
        })
        .collect();
    let results = Results {
        cmd_id: 2,
        msg_ref: Some(1),
        cmd_ref: 3,
        items,
        target_ref: Vec::new(),
        source_ref: Vec::new(),
        meta: None,
    };
    with_body(pkg1, Command::Results(results))
}

/// A Replace with one item whose Data is a [`CHUNK_BYTES`] Base64-alphabet text chunk of a
/// large object (Meta Size on the first chunk, MoreData set).
fn one_chunk(pkg1: &SyncMl) -> SyncMl {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let data: String = (0..CHUNK_BYTES).map(|i| char::from(B64[(i * 7 + i / 64) % 64])).collect();
    let item = Item {
        target: Some(Location::uri("./Vendor/Bench/Firmware/Package")),
        meta: Some(Meta {
            size: Some(4 * CHUNK_BYTES as u64),
            ..Meta::with_format_and_type(Format::B64, "application/octet-stream")
        }),
        data: Some(Data::Text(data)),
        more_data: true,
        ..Item::default()
    };
    let replace = ItemCommand { cmd_id: 2, items: vec![item], ..ItemCommand::default() };
    with_body(pkg1, Command::Replace(replace))
}

fn inputs() -> Vec<Input> {
    let pkg1 = Input::from_xml("pkg1", PKG1_XML);
    let many = Input::from_model("many_items", many_items(&pkg1.model));
    let chunk = Input::from_model("one_chunk", one_chunk(&pkg1.model));
    // Each input must survive its own round trip, or the numbers mean nothing.
    for input in [&pkg1, &many, &chunk] {
        for encoding in [Encoding::Xml, Encoding::Wbxml] {
            let back = decode_as(input.bytes(encoding), encoding, &Limits::DEFAULT).expect("round trip");
            assert_eq!(back, input.model, "{} {encoding:?} round trip", input.name);
        }
    }
    vec![pkg1, many, chunk]
}

fn counters() -> (u64, u64, u64) {
    (ALLOCS.load(Relaxed), REALLOCS.load(Relaxed), BYTES.load(Relaxed))
}

/// Allocator calls, of which reallocs, and bytes asked for, per call of `f`.
fn count_allocs(mut f: impl FnMut()) -> (f64, f64, f64) {
    const RUNS: u64 = 200;
    f(); // anything lazily initialised is not counted
    let (a0, r0, b0) = counters();
    for _ in 0..RUNS {
        f();
    }
    let (a1, r1, b1) = counters();
    let per = |x: u64| x as f64 / RUNS as f64;
    (per(a1 - a0), per(r1 - r0), per(b1 - b0))
}

fn print_alloc_table(inputs: &[Input]) {
    let limits = Limits::DEFAULT;
    println!();
    println!("Allocations per message (allocs include reallocs; bytes = sizes asked for, realloc growth)");
    println!(
        "| operation    | input             | bytes in/out | allocs/msg | reallocs/msg | bytes alloc/msg |"
    );
    println!(
        "|--------------|-------------------|-------------:|-----------:|-------------:|----------------:|"
    );
    let row = |op: &str, input: &str, size: usize, (a, r, b): (f64, f64, f64)| {
        println!("| {op:<12} | {input:<17} | {size:>12} | {a:>10.1} | {r:>12.1} | {b:>15.0} |");
    };
    for input in inputs {
        for (encoding, name) in [(Encoding::Xml, "xml"), (Encoding::Wbxml, "wbxml")] {
            let bytes = input.bytes(encoding);
            let counts = count_allocs(|| {
                black_box(decode_as(black_box(bytes), encoding, &limits).unwrap());
            });
            row(&format!("decode_{name}"), input.name, bytes.len(), counts);
        }
        for (encoding, name) in [(Encoding::Xml, "xml"), (Encoding::Wbxml, "wbxml")] {
            let counts = count_allocs(|| {
                black_box(encode(black_box(&input.model), encoding));
            });
            row(&format!("encode_{name}"), input.name, input.bytes(encoding).len(), counts);
        }
    }
    let counts = count_allocs(|| {
        black_box(decode_as(black_box(LIBDMCLIENT_WBXML), Encoding::Wbxml, &limits).unwrap());
    });
    row("decode_wbxml", "libdmclient_wbxml", LIBDMCLIENT_WBXML.len(), counts);
    for (name, input, from, to) in conversions(&inputs[0]) {
        let counts = count_allocs(|| {
            black_box(convert(black_box(input), from, to));
        });
        row(name, if input == LIBDMCLIENT_WBXML { "libdmclient_wbxml" } else { "pkg1" }, input.len(), counts);
    }
    println!();
}

/// What libwbxml's `wbxml2xml` / `xml2wbxml` do, done our way: decode to the model, encode.
fn convert(bytes: &[u8], from: Encoding, to: Encoding) -> Vec<u8> {
    encode(&decode_as(bytes, from, &Limits::DEFAULT).unwrap(), to)
}

/// The conversions measured against libwbxml (benches/libwbxml_reference.c).
fn conversions(pkg1: &Input) -> [(&'static str, &[u8], Encoding, Encoding); 3] {
    [
        ("wbxml2xml", &pkg1.wbxml, Encoding::Wbxml, Encoding::Xml),
        ("xml2wbxml", &pkg1.xml, Encoding::Xml, Encoding::Wbxml),
        ("wbxml2xml", LIBDMCLIENT_WBXML, Encoding::Wbxml, Encoding::Xml),
    ]
}

fn bench_codec(c: &mut Criterion, inputs: &[Input]) {
    let limits = Limits::DEFAULT;
    for input in inputs {
        let mut group = c.benchmark_group(input.name);
        for (encoding, name) in [(Encoding::Xml, "xml"), (Encoding::Wbxml, "wbxml")] {
            let bytes = input.bytes(encoding);
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.bench_function(format!("decode_{name}"), |b| {
                b.iter(|| decode_as(black_box(bytes), encoding, &limits).unwrap())
            });
        }
        for (encoding, name) in [(Encoding::Xml, "xml"), (Encoding::Wbxml, "wbxml")] {
            group.throughput(Throughput::Bytes(input.bytes(encoding).len() as u64));
            group.bench_function(format!("encode_{name}"), |b| {
                b.iter(|| encode(black_box(&input.model), encoding))
            });
        }
        group.finish();
    }
    let mut group = c.benchmark_group("libdmclient");
    group.throughput(Throughput::Bytes(LIBDMCLIENT_WBXML.len() as u64));
    group.bench_function("decode_wbxml", |b| {
        b.iter(|| decode_as(black_box(LIBDMCLIENT_WBXML), Encoding::Wbxml, &limits).unwrap())
    });
    group.finish();
    let mut group = c.benchmark_group("convert");
    for (name, input, from, to) in conversions(&inputs[0]) {
        let id =
            if input == LIBDMCLIENT_WBXML { format!("libdmclient_{name}") } else { format!("pkg1_{name}") };
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(id, |b| b.iter(|| convert(black_box(input), from, to)));
    }
    group.finish();
}

fn main() {
    let inputs = inputs();
    print_alloc_table(&inputs);
    let mut criterion = Criterion::default().configure_from_args();
    bench_codec(&mut criterion, &inputs);
    criterion.final_summary();
}
