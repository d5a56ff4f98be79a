//! Build script: with the `bypass` feature, compiles the eBPF socket filter (bpf/bypass.c)
//! with clang (`-target bpf`) into `$OUT_DIR/bypass.o`, which src/capture/bypass.rs embeds.
//! Without the feature it does nothing.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_BYPASS").is_none() {
        return;
    }
    println!("cargo:rerun-if-changed=bpf/bypass.c");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("bypass.o");
    // <linux/bpf.h> includes <asm/types.h>, which Debian keeps under the multiarch directory.
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86_64-linux-gnu",
        Ok("aarch64") => "aarch64-linux-gnu",
        Ok("arm") => "arm-linux-gnueabihf",
        Ok("riscv64") => "riscv64-linux-gnu",
        Ok("powerpc64") => "powerpc64le-linux-gnu",
        Ok("s390x") => "s390x-linux-gnu",
        _ => "x86_64-linux-gnu",
    };
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I/usr/include/{arch}"))
        .args(["-c", "bpf/bypass.c", "-o"])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            println!("cargo:warning=clang failed ({s}) on bpf/bypass.c");
            std::process::exit(1);
        }
        Err(e) => {
            println!(
                "cargo:warning=the bypass feature needs clang (and libbpf-dev for \
                 bpf/bpf_helpers.h): cannot run {clang}: {e}"
            );
            std::process::exit(1);
        }
    }
}
