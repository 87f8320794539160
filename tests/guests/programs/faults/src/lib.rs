//! Misbehaves on purpose (see `wit/world.wit`): every export but `ok` is a failure the host must
//! contain and classify. `black_box` keeps the optimizer from proving the loops pointless.

use std::hint::black_box;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use wasmdask_guest::log;

wasmdask_guest::wit_bindgen::generate!({
    world: "faults",
    path: "wit",
    runtime_path: "wasmdask_guest::wit_bindgen::rt",
});

struct Faults;

/// Marks `poke` leaves: a counter and a block of memory, both reachable after the call returns.
static POKES: AtomicU32 = AtomicU32::new(0);
static BLOCK: Mutex<Vec<u8>> = Mutex::new(Vec::new());

impl Guest for Faults {
    fn ok(x: u32) -> u32 {
        x.wrapping_add(1)
    }

    fn spin() {
        let mut counter = 0u64;
        loop {
            counter = black_box(counter.wrapping_add(1));
        }
    }

    fn hog() -> u64 {
        const BLOCK: usize = 1 << 20;
        let mut blocks = Vec::new();
        loop {
            let mut block = vec![0u8; BLOCK];
            // Touch every page so the memory is really used, not just reserved.
            for page in block.iter_mut().step_by(4096) {
                *page = 1;
            }
            blocks.push(black_box(block));
        }
    }

    fn recurse(depth: u64) -> u64 {
        descend(depth)
    }

    fn spam() {
        let chunk = [b'x'; 64 * 1024];
        let mut stdout = std::io::stdout().lock();
        for _ in 0..(1_000_000_000 / chunk.len()) {
            stdout
                .write_all(black_box(&chunk))
                .expect("writing to stdout failed");
        }
        stdout.flush().expect("flushing stdout failed");
    }

    fn read_passwd() -> Result<String, String> {
        std::fs::read_to_string("/etc/passwd").map_err(|error| error.to_string())
    }

    fn read_env() -> Result<String, String> {
        std::env::var("HOME").map_err(|error| error.to_string())
    }

    fn env_vars() -> Vec<String> {
        std::env::vars()
            .map(|(name, value)| format!("{name}={value}"))
            .collect()
    }

    fn open_socket() -> Result<String, String> {
        std::net::TcpStream::connect("127.0.0.1:9")
            .map(|stream| format!("connected to {:?}", stream.peer_addr()))
            .map_err(|error| error.to_string())
    }

    fn panic(message: String) -> u32 {
        panic!("{message}")
    }

    fn fail(message: String) -> Result<u32, String> {
        Err(message)
    }

    fn log_and_print(message: String) -> u32 {
        log::info(&message);
        println!("{message}");
        u32::try_from(message.len()).expect("a wasm32 string is shorter than 4 GiB")
    }

    fn poke(times: u32) -> u32 {
        let mut seen = 0;
        for _ in 0..times {
            let mut block = BLOCK
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            seen = POKES.fetch_add(1, Ordering::Relaxed)
                + u32::from(block.last().copied().unwrap_or(0));
            *block = vec![7; 1 << 20];
        }
        seen
    }
}

/// One stack frame per level; the buffer is used after the recursive call returns, so the call
/// is not in tail position and the compiler cannot turn the recursion into a loop.
fn descend(depth: u64) -> u64 {
    let mut frame = [0u8; 64];
    black_box(&mut frame);
    if black_box(depth) == 0 {
        return 0;
    }
    let below = descend(depth - 1);
    black_box(&frame);
    below + 1 + u64::from(frame[0])
}

export!(Faults);
