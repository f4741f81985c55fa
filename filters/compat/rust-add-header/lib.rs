//! A proxy-wasm add-header filter in plain Rust (std only, no SDK crate: crates.io is not reachable from Weft's
//! machines, see README.md). Built with `rustc --target wasm32-wasi --crate-type cdylib`, so the module carries
//! what Rust's standard library brings to any proxy-wasm host: a WASI reactor (`_initialize`), `fd_write` for
//! `println!`, `random_get` for `HashMap`'s seed, `clock_time_get` for `SystemTime`, and `proc_exit` on a panic.
//!
//! Configuration: `name: value`. Each request gets that header, plus `x-rust-path` (the `:path` the host
//! serialised) and `x-rust-seen` (how often this VM has seen that path, kept in a `HashMap`). Responses get
//! `x-rust-elapsed-ok: true` when the host's WASI clock moved forwards between request and response.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::SystemTime;

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;
const REQUEST_HEADERS: u32 = 0;
const RESPONSE_HEADERS: u32 = 2;
const PLUGIN_CONFIGURATION: u32 = 7;
const LOG_INFO: u32 = 2;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message: *const u8, size: usize) -> u32;
    fn proxy_get_buffer_bytes(kind: u32, start: usize, max: usize, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *mut *mut u8,
        value_size: *mut usize,
    ) -> u32;
    fn proxy_add_header_map_value(map: u32, key: *const u8, key_size: usize, value: *const u8, value_size: usize)
        -> u32;
}

struct Filter {
    name: String,
    value: String,
    seen: HashMap<String, u32>,
    started: HashMap<u32, SystemTime>,
}

thread_local! {
    static FILTER: RefCell<Option<Filter>> = RefCell::new(None);
}

/// The host hands every buffer it returns to us through this allocator; we take ownership back with `Vec::from_raw_parts`.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut buffer: Vec<u8> = Vec::with_capacity(size);
    let pointer = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    pointer
}

fn owned(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        return Vec::new();
    }
    // Safety: `data` came from proxy_on_memory_allocate(size). For size 0 the host asks for one byte: a Vec of
    // capacity 0 never frees, so that byte leaks rather than being freed with the wrong layout.
    unsafe { Vec::from_raw_parts(data, size, size) }
}

fn log(message: &str) {
    unsafe { proxy_log(LOG_INFO, message.as_ptr(), message.len()) };
}

fn header(map: u32, key: &str) -> Option<String> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    match unsafe { proxy_get_header_map_value(map, key.as_ptr(), key.len(), &mut data, &mut size) } {
        OK => Some(String::from_utf8_lossy(&owned(data, size)).into_owned()),
        NOT_FOUND => None,
        status => panic!("proxy_get_header_map_value returned {}", status),
    }
}

fn add_header(map: u32, key: &str, value: &str) {
    let status = unsafe { proxy_add_header_map_value(map, key.as_ptr(), key.len(), value.as_ptr(), value.len()) };
    assert_eq!(status, OK, "proxy_add_header_map_value");
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context_id: u32, _parent_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root_id: u32, _vm_configuration_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_root_id: u32, configuration_size: usize) -> u32 {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    let status = unsafe { proxy_get_buffer_bytes(PLUGIN_CONFIGURATION, 0, configuration_size, &mut data, &mut size) };
    if status != OK {
        return 0;
    }
    let configuration = String::from_utf8_lossy(&owned(data, size)).into_owned();
    let (name, value) = match configuration.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => (name.trim().to_lowercase(), value.trim().to_string()),
        _ => {
            log("rust-add-header: configuration must be `name: value`");
            return 0;
        }
    };
    // Through WASI fd_write: the host routes stdout to the proxy's log.
    println!("rust-add-header configured: {}", name);
    FILTER.with(|filter| {
        *filter.borrow_mut() = Some(Filter { name, value, seen: HashMap::new(), started: HashMap::new() });
    });
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(context_id: u32, _headers: usize, _end_of_stream: u32) -> u32 {
    FILTER.with(|filter| {
        let mut filter = filter.borrow_mut();
        let filter = filter.as_mut().expect("configured");
        let path = header(REQUEST_HEADERS, ":path").unwrap_or_default();
        let seen = filter.seen.entry(path.clone()).or_insert(0);
        *seen += 1;
        add_header(REQUEST_HEADERS, &filter.name, &filter.value);
        add_header(REQUEST_HEADERS, "x-rust-path", &path);
        add_header(REQUEST_HEADERS, "x-rust-seen", &seen.to_string());
        filter.started.insert(context_id, SystemTime::now());
    });
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(context_id: u32, _headers: usize, _end_of_stream: u32) -> u32 {
    FILTER.with(|filter| {
        let mut filter = filter.borrow_mut();
        let filter = filter.as_mut().expect("configured");
        if header(RESPONSE_HEADERS, "x-rust-panic").is_some() {
            panic!("asked to panic");
        }
        let forwards = match filter.started.remove(&context_id) {
            Some(started) => SystemTime::now().duration_since(started).is_ok(),
            None => false,
        };
        add_header(RESPONSE_HEADERS, "x-rust-elapsed-ok", if forwards { "true" } else { "false" });
    });
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_done(_context_id: u32) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_log(_context_id: u32) {}

#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    FILTER.with(|filter| {
        if let Some(filter) = filter.borrow_mut().as_mut() {
            filter.started.remove(&context_id);
        }
    });
}
