//! What a plugin may import: the `switchyard:plugin` interfaces, `wasi:http`'s outgoing
//! handler, and the parts of WASI 0.2 that Rust's standard library brings along (streams,
//! clocks, randomness, the CLI's stdio, environment and exit). No filesystem, sockets or
//! name lookup. The upload check and the linker ([`super::host::add_to_linker`]) hold to
//! this one list.

use wasmtime::Engine;
use wasmtime::component::Component;

use super::PluginError;

/// The interfaces a plugin may import, by package (WASI at any 0.2 version).
pub(super) const ALLOWED: &[(&str, &[&str])] = &[
    ("switchyard:plugin", &["types", "host"]),
    ("wasi:io", &["error", "poll", "streams"]),
    ("wasi:clocks", &["wall-clock", "monotonic-clock"]),
    ("wasi:random", &["random", "insecure", "insecure-seed"]),
    (
        "wasi:cli",
        &[
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
    ),
    ("wasi:http", &["types", "outgoing-handler"]),
];

/// Refuses a component that imports anything off [`ALLOWED`], naming the first such import.
pub(super) fn check_imports(engine: &Engine, component: &Component) -> Result<(), PluginError> {
    let component_type = component.component_type();
    for (name, _) in component_type.imports(engine) {
        if let Some(why) = refusal(name) {
            return Err(PluginError::WrongWorld {
                reason: format!("it imports {name}: {why}"),
            });
        }
    }
    Ok(())
}

/// Why the import `name` (`package/interface@version`) is refused, or `None` if allowed.
fn refusal(name: &str) -> Option<&'static str> {
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    let (package, interface) = path.split_once('/').unwrap_or((path, ""));
    match package {
        "wasi:filesystem" => {
            return Some("plugins have no filesystem (keep state in the plugin's key-value store)");
        }
        "wasi:sockets" => {
            return Some(
                "plugins have no sockets or name lookup (call the consumer's allowed_hosts \
                 through wasi:http, switchyard_sdk::http)",
            );
        }
        _ => {}
    }
    let offered = ALLOWED
        .iter()
        .any(|(p, interfaces)| *p == package && interfaces.contains(&interface));
    if !offered {
        return Some(
            "Switchyard offers switchyard:plugin, wasi:http/outgoing-handler and types, \
             wasi:io, wasi:clocks, wasi:random and wasi:cli",
        );
    }
    if package.starts_with("wasi:") && !version.starts_with("0.2.") {
        return Some("Switchyard offers WASI 0.2 (build for wasm32-wasip2)");
    }
    None
}

#[cfg(test)]
mod tests {
    use wasm_encoder::{
        Component as Encoded, ComponentImportSection, ComponentTypeRef, ComponentTypeSection,
        ComponentValType, InstanceType, PrimitiveValType, TypeBounds,
    };

    use super::*;
    use crate::runtime::{Runtime, RuntimeConfig};

    /// One item a test component expects of the interface it imports, so that the linker
    /// must define the interface to satisfy it.
    #[derive(Clone, Copy)]
    enum Probe {
        /// Nothing: any instance satisfies it, only the upload check can refuse it.
        Nothing,
        /// A resource type of this name.
        Resource(&'static str),
        /// A function of no parameters returning a `u64`.
        U64(&'static str),
        /// A function of no parameters returning `tuple<u64, u64>`.
        U64Pair(&'static str),
        /// `wasi:clocks/wall-clock`'s `now`, returning its `datetime` record.
        Datetime,
    }

    /// A component whose only import is the interface `name`, expected to hold `probe`.
    fn importing(name: &str, probe: Probe) -> Vec<u8> {
        let no_params = std::iter::empty::<(&str, ComponentValType)>;
        let u64 = ComponentValType::Primitive(PrimitiveValType::U64);
        let mut instance = InstanceType::new();
        match probe {
            Probe::Nothing => {}
            Probe::Resource(resource) => {
                instance.export(resource, ComponentTypeRef::Type(TypeBounds::SubResource));
            }
            Probe::U64(func) => {
                instance
                    .ty()
                    .function()
                    .params(no_params())
                    .result(Some(u64));
                instance.export(func, ComponentTypeRef::Func(0));
            }
            Probe::U64Pair(func) => {
                instance.ty().defined_type().tuple([u64, u64]);
                let pair = ComponentValType::Type(0);
                instance
                    .ty()
                    .function()
                    .params(no_params())
                    .result(Some(pair));
                instance.export(func, ComponentTypeRef::Func(1));
            }
            Probe::Datetime => {
                let u32 = ComponentValType::Primitive(PrimitiveValType::U32);
                instance
                    .ty()
                    .defined_type()
                    .record([("seconds", u64), ("nanoseconds", u32)]);
                instance.export("datetime", ComponentTypeRef::Type(TypeBounds::Eq(0)));
                let datetime = ComponentValType::Type(1);
                instance
                    .ty()
                    .function()
                    .params(no_params())
                    .result(Some(datetime));
                instance.export("now", ComponentTypeRef::Func(2));
            }
        }
        let mut types = ComponentTypeSection::new();
        types.instance(&instance);
        let mut imports = ComponentImportSection::new();
        imports.import(name, ComponentTypeRef::Instance(0));
        let mut component = Encoded::new();
        component.section(&types).section(&imports);
        component.finish()
    }

    fn links(runtime: &Runtime, name: &str, probe: Probe) -> bool {
        let component = Component::new(&runtime.engine, importing(name, probe)).expect("valid");
        runtime.linker.instantiate_pre(&component).is_ok()
    }

    #[test]
    fn filesystem_sockets_and_name_lookup_are_refused_by_name() {
        let runtime = Runtime::new(RuntimeConfig::default()).expect("a runtime");
        for name in [
            "wasi:filesystem/types@0.2.0",
            "wasi:filesystem/preopens@0.2.6",
            "wasi:sockets/tcp@0.2.0",
            "wasi:sockets/udp@0.2.0",
            "wasi:sockets/ip-name-lookup@0.2.0",
            "wasi:sockets/instance-network@0.2.0",
            "wasi:keyvalue/store@0.2.0",
            "wasi:http/incoming-handler@0.2.0",
            "wasi:io/streams@0.3.0",
            "env",
        ] {
            let error = runtime
                .compile(&importing(name, Probe::Nothing))
                .err()
                .expect("refused");
            assert!(
                matches!(&error, PluginError::WrongWorld { reason } if reason.contains(name)),
                "{name}: {error}"
            );
        }
    }

    #[test]
    fn what_rust_std_imports_is_allowed() {
        for (package, interfaces) in ALLOWED {
            for interface in *interfaces {
                let version = if package.starts_with("wasi:") {
                    "0.2.12"
                } else {
                    "0.1.0"
                };
                let name = format!("{package}/{interface}@{version}");
                assert_eq!(refusal(&name), None, "{name}");
            }
        }
    }

    /// The interfaces whose items the probes can spell; the rest of [`ALLOWED`] (the CLI's
    /// stdio, environment and exit, `wasi:http/outgoing-handler`, `switchyard:plugin`) is
    /// imported by every example plugin the integration tests run.
    #[test]
    fn the_linker_links_the_allowed_interfaces_and_not_the_filesystem_or_sockets() {
        let runtime = Runtime::new(RuntimeConfig::default()).expect("a runtime");
        for (name, probe) in [
            ("wasi:io/error@0.2.6", Probe::Resource("error")),
            ("wasi:io/poll@0.2.6", Probe::Resource("pollable")),
            ("wasi:io/streams@0.2.6", Probe::Resource("input-stream")),
            ("wasi:clocks/wall-clock@0.2.6", Probe::Datetime),
            ("wasi:clocks/monotonic-clock@0.2.6", Probe::U64("now")),
            ("wasi:random/random@0.2.6", Probe::U64("get-random-u64")),
            (
                "wasi:random/insecure@0.2.6",
                Probe::U64("get-insecure-random-u64"),
            ),
            (
                "wasi:random/insecure-seed@0.2.6",
                Probe::U64Pair("insecure-seed"),
            ),
            (
                "wasi:cli/terminal-input@0.2.6",
                Probe::Resource("terminal-input"),
            ),
            (
                "wasi:cli/terminal-output@0.2.6",
                Probe::Resource("terminal-output"),
            ),
            ("wasi:http/types@0.2.6", Probe::Resource("fields")),
        ] {
            assert!(
                links(&runtime, name, probe),
                "{name} is allowed but not linked"
            );
        }
        for (name, probe) in [
            ("wasi:filesystem/types@0.2.6", Probe::Resource("descriptor")),
            ("wasi:sockets/network@0.2.6", Probe::Resource("network")),
            ("wasi:sockets/tcp@0.2.6", Probe::Resource("tcp-socket")),
            ("wasi:sockets/udp@0.2.6", Probe::Resource("udp-socket")),
            (
                "wasi:sockets/ip-name-lookup@0.2.6",
                Probe::Resource("resolve-address-stream"),
            ),
        ] {
            assert!(
                !links(&runtime, name, probe),
                "{name} is refused but linked"
            );
        }
    }
}
