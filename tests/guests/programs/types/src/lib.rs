//! Echoes a value of every WIT type back to the host (see `wit/world.wit`).

wit_bindgen::generate!({ world: "types", path: "wit" });

struct Types;

impl Guest for Types {
    fn echo_bool(x: bool) -> bool {
        x
    }

    fn echo_s8(x: i8) -> i8 {
        x
    }

    fn echo_s16(x: i16) -> i16 {
        x
    }

    fn echo_s32(x: i32) -> i32 {
        x
    }

    fn echo_s64(x: i64) -> i64 {
        x
    }

    fn echo_u8(x: u8) -> u8 {
        x
    }

    fn echo_u16(x: u16) -> u16 {
        x
    }

    fn echo_u32(x: u32) -> u32 {
        x
    }

    fn echo_u64(x: u64) -> u64 {
        x
    }

    fn echo_f32(x: f32) -> f32 {
        x
    }

    fn echo_f64(x: f64) -> f64 {
        x
    }

    fn echo_char(x: char) -> char {
        x
    }

    fn echo_string(x: String) -> String {
        x
    }

    fn echo_list_u32(x: Vec<u32>) -> Vec<u32> {
        x
    }

    fn echo_list_string(x: Vec<String>) -> Vec<String> {
        x
    }

    fn echo_record(x: Person) -> Person {
        x
    }

    fn echo_tuple(x: (u8, String, f64)) -> (u8, String, f64) {
        x
    }

    fn echo_variant(x: Event) -> Event {
        x
    }

    fn echo_enum(x: Color) -> Color {
        x
    }

    fn echo_option(x: Option<u8>) -> Option<u8> {
        x
    }

    fn echo_result(x: Result<u32, String>) -> Result<u32, String> {
        x
    }

    fn echo_flags(x: Permissions) -> Permissions {
        x
    }

    fn echo_list_record(x: Vec<Person>) -> Vec<Person> {
        x
    }

    fn describe(name: String, age: u8, tags: Vec<String>) -> String {
        format!("{name} ({age}): {}", tags.join(", "))
    }

    fn nothing() {}
}

export!(Types);
