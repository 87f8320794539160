// Example wasmdask tasks in C: the same tasks, with the same results, as examples/rust.
//
// The signatures are in wit/world.wit (shared with the Rust example); `wasmdask build examples/c`
// generates `tasks.h` from it with wit-bindgen, compiles this file with clang into a WASI reactor
// and makes it a component. Each execution runs in a fresh instance, so memory the task does not
// free is reclaimed with it; the code still frees what it is handed, as a long-lived guest must.

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks.h"

// `rounds` chained splitmix64 mixing steps from `seed` (see examples/rust/src/kernel.rs).
static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t exports_tasks_hash_rounds(uint64_t seed, uint32_t rounds) {
    uint64_t state = seed;
    for (uint32_t i = 0; i < rounds; i++) {
        state = mix(state + 0x9E3779B97F4A7C15ull);
    }
    return state;
}

uint64_t exports_tasks_square(uint64_t x) {
    return x * x;  // wraps modulo 2^64, as the Rust example's wrapping_mul
}

// The WIT spelling of an error kind, so messages read as the host's own.
static const char *kind_name(wasmdask_task_types_error_kind_t kind) {
    static const char *const names[] = {
        "bad-input", "guest-error",    "trap",   "timeout",           "out-of-memory",
        "stack-overflow", "output-limit", "denied", "unknown-function", "invalid-component",
        "lost",
    };
    return kind < sizeof names / sizeof names[0] ? names[kind] : "unknown";
}

// Sets `err` to a formatted message and returns false, for `return fail(err, ...)`.
__attribute__((format(printf, 2, 3))) static bool fail(tasks_string_t *err, const char *format,
                                                       ...) {
    char message[256];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    tasks_string_dup(err, message);
    return false;
}

// Sets `err` to a cluster call's task error, spelled "<kind>: <message>" as the other languages
// do, and returns false. `error` stays the caller's to free.
static bool task_failed(tasks_string_t *err, const wasmdask_task_cluster_task_error_t *error) {
    return fail(err, "%s: %.*s", kind_name(error->kind), (int)error->message.len,
                (const char *)error->message.ptr);
}

static void log_info(const char *message) {
    tasks_string_t text;
    tasks_string_set(&text, message);
    wasmdask_task_log_log(WASMDASK_TASK_LOG_LEVEL_INFO, &text);
}

bool exports_tasks_sum_of_squares(uint32_t n, uint64_t *ret, tasks_string_t *err) {
    char note[64];
    snprintf(note, sizeof note, "squaring 1..=%u on the cluster", n);
    log_info(note);

    // One `square` task per number: each call's arguments are the JSON array `[x]`.
    tasks_list_string_t args = {calloc(n, sizeof(tasks_string_t)), n};
    for (uint32_t x = 1; x <= n; x++) {
        char json[16];
        snprintf(json, sizeof json, "[%u]", x);
        tasks_string_dup(&args.ptr[x - 1], json);
    }
    tasks_string_t square;
    tasks_string_set(&square, "square");
    wasmdask_task_cluster_list_call_id_t ids;
    wasmdask_task_cluster_task_error_t error;
    bool submitted = wasmdask_task_cluster_map(&square, &args, &ids, &error);
    tasks_list_string_free(&args);
    if (!submitted) {
        bool failed = task_failed(err, &error);
        wasmdask_task_cluster_task_error_free(&error);
        return failed;
    }

    // Each result is the JSON text of a u64: a plain decimal number.
    wasmdask_task_cluster_list_result_string_task_error_t results;
    wasmdask_task_cluster_gather(&ids, &results);
    wasmdask_task_cluster_list_call_id_free(&ids);
    uint64_t total = 0;
    bool ok = true;
    for (size_t i = 0; i < results.len && ok; i++) {
        wasmdask_task_cluster_result_string_task_error_t *result = &results.ptr[i];
        if (result->is_err) {
            ok = task_failed(err, &result->val.err);
        } else {
            char digits[24] = {0};
            size_t len = result->val.ok.len < 23 ? result->val.ok.len : 23;
            memcpy(digits, result->val.ok.ptr, len);
            uint64_t value = strtoull(digits, NULL, 10);
            if (__builtin_add_overflow(total, value, &total)) {
                ok = fail(err, "the sum of squares of 1..=%u overflows u64", n);
            }
        }
    }
    wasmdask_task_cluster_list_result_string_task_error_free(&results);
    *ret = total;
    return ok;
}

// The binary encoding of a u64 (see wit/wasmdask.wit): an unsigned LEB128 varint, 7 bits a byte
// from the lowest, the high bit set on every byte but the last; at most 10 bytes. Returns its
// length.
static size_t put_u64(uint64_t value, uint8_t out[10]) {
    size_t len = 0;
    while (value >= 0x80) {
        out[len++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    out[len++] = (uint8_t)value;
    return len;
}

// Decodes `bytes` as one u64 varint, all of them; false when they are not exactly that.
static bool get_u64(const tasks_list_u8_t *bytes, uint64_t *value) {
    *value = 0;
    for (size_t i = 0; i < bytes->len && i < 10; i++) {
        uint8_t byte = bytes->ptr[i];
        if (i == 9 && byte > 1) return false;  // the 10th byte holds only bit 63
        *value |= (uint64_t)(byte & 0x7F) << (7 * i);
        if (!(byte & 0x80)) return i + 1 == bytes->len;
    }
    return false;
}

bool exports_tasks_square_twice(uint64_t x, uint64_t *ret, tasks_string_t *err) {
    tasks_string_t square;
    tasks_string_set(&square, "square");
    wasmdask_task_cluster_task_error_t error;

    // One argument, x, in the binary encoding of square's parameter type (u64).
    uint8_t encoded[10];
    wasmdask_task_cluster_arg_t arg = {.tag = WASMDASK_TASK_CLUSTER_ARG_VALUE};
    arg.val.value = (tasks_list_u8_t){encoded, put_u64(x, encoded)};
    wasmdask_task_cluster_list_arg_t args = {&arg, 1};
    wasmdask_task_cluster_call_id_t inner, outer;
    bool submitted = wasmdask_task_cluster_submit_args(&square, &args, &inner, &error);
    if (submitted) {
        // The inner call's handle as the argument: its result goes to the outer call where it
        // lies, without entering this task. Then release it: the outer call still gets it.
        arg.tag = WASMDASK_TASK_CLUSTER_ARG_CALL;
        arg.val.call = inner;
        submitted = wasmdask_task_cluster_submit_args(&square, &args, &outer, &error);
        wasmdask_task_cluster_list_call_id_t handles = {&inner, 1};
        wasmdask_task_cluster_release(&handles);
    }
    // The result in the binary encoding too: the bytes of one u64 varint.
    tasks_list_u8_t result;
    if (!submitted || !wasmdask_task_cluster_take(outer, &result, &error)) {
        bool failed = task_failed(err, &error);
        wasmdask_task_cluster_task_error_free(&error);
        return failed;
    }
    bool decoded = get_u64(&result, ret);
    tasks_list_u8_free(&result);
    return decoded || fail(err, "the result of `square` is not the binary encoding of a u64");
}

// The smallest and largest sample, ignoring NaN; false when there is none.
static bool min_max(const tasks_list_f64_t *samples, double *low, double *high) {
    bool found = false;
    for (size_t i = 0; i < samples->len; i++) {
        double x = samples->ptr[i];
        if (isnan(x)) continue;
        if (!found) {
            *low = *high = x;
            found = true;
        } else if (x < *low) {
            *low = x;
        } else if (x > *high) {
            *high = x;
        }
    }
    return found;
}

void exports_tasks_summarize(tasks_list_f64_t *samples, tasks_string_t *maybe_label,
                             tasks_stats_t *ret) {
    double low = 0, high = 0;
    bool some = min_max(samples, &low, &high);
    // Left-to-right from -0.0, as Rust's `Iterator::sum` adds, so means match to the last bit.
    double total = -0.0;
    for (size_t i = 0; i < samples->len; i++) total += samples->ptr[i];
    ret->count = (uint32_t)samples->len;
    ret->mean.is_some = samples->len > 0;
    ret->mean.val = samples->len > 0 ? total / (double)samples->len : 0;
    ret->min.is_some = ret->max.is_some = some;
    ret->min.val = low;
    ret->max.val = high;
    if (maybe_label != NULL) {
        ret->label = *maybe_label;  // hand the argument's buffer on to the result
    } else {
        tasks_string_dup(&ret->label, "unnamed");
    }
    tasks_list_f64_free(samples);
}

// A non-finite double spelled as Rust prints it, so messages match across languages.
static const char *show(double x) {
    return isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf";
}

bool exports_tasks_histogram(tasks_list_f64_t *samples, uint32_t buckets,
                             tasks_list_bucket_t *ret, tasks_string_t *err) {
    if (buckets == 0) return fail(err, "buckets must be at least 1");
    for (size_t i = 0; i < samples->len; i++) {
        if (!isfinite(samples->ptr[i])) {
            return fail(err, "samples must be finite numbers, found %s", show(samples->ptr[i]));
        }
    }
    double low, high;
    if (!min_max(samples, &low, &high)) return fail(err, "cannot build a histogram of no samples");
    double width = (high - low) / (double)buckets;

    ret->len = buckets;
    ret->ptr = calloc(buckets, sizeof *ret->ptr);
    for (uint32_t i = 0; i < buckets; i++) {
        // The last bound is exactly `high`, whatever the rounding of `low + width * buckets`.
        ret->ptr[i].lower = low + width * (double)i;
        ret->ptr[i].upper = i + 1 == buckets ? high : low + width * (double)(i + 1);
    }
    for (size_t i = 0; i < samples->len; i++) {
        // When all samples are equal, width is 0 and they all go to the first bucket.
        size_t index = width > 0 ? (size_t)((samples->ptr[i] - low) / width) : 0;
        ret->ptr[index < buckets ? index : buckets - 1].count += 1;
    }
    tasks_list_f64_free(samples);
    return true;
}
