//! What an uploaded component may hold before it is compiled: caps on its shape, read from
//! its section headers with wasmparser (no validation, no function body parsed), so that a
//! component too costly to compile is refused before any compiling starts. Whether it is
//! valid at all, and of our world, is the compiler's verdict.

use wasmparser::{Encoding, Parser, Payload};

use super::DispatcherError;

/// The largest component accepted.
pub const MAX_PLUGIN_BYTES: usize = 64 << 20;

/// A cap on the shape of an uploaded component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cap {
    /// Functions defined, across its core modules (what the compiler compiles one by one).
    Functions,
    /// Core modules, nested components' included.
    CoreModules,
    /// Memories defined, across its core modules (no pooled instance holds more).
    Memories,
    /// The bytes of its largest function body (compile time grows faster than its size).
    FunctionBytes,
}

impl Cap {
    /// The most a component may have.
    pub fn max(self) -> u64 {
        match self {
            Cap::Functions => 100_000,
            Cap::CoreModules => 32,
            Cap::Memories => 4,
            Cap::FunctionBytes => 2 << 20,
        }
    }

    /// Stable snake_case code for the API.
    pub fn code(self) -> &'static str {
        match self {
            Cap::Functions => "too_many_functions",
            Cap::CoreModules => "too_many_modules",
            Cap::Memories => "too_many_memories",
            Cap::FunctionBytes => "function_too_large",
        }
    }

    /// The refusal in words, for `found` against the cap.
    pub(super) fn refusal(self, found: u64) -> String {
        let max = self.max();
        match self {
            Cap::Functions => {
                format!("the component defines {found} functions; the limit is {max}")
            }
            Cap::CoreModules => {
                format!("the component holds {found} core modules; the limit is {max}")
            }
            Cap::Memories => format!("the component defines {found} memories; the limit is {max}"),
            Cap::FunctionBytes => {
                format!("the component has a function of {found} bytes; the limit is {max}")
            }
        }
    }
}

/// Refuses a component over a [`Cap`]. Anything that is not a component, or does not
/// parse, passes: compiling it says what is wrong. Blocking (linear in the size).
pub(super) fn check_caps(wasm: &[u8]) -> Result<(), DispatcherError> {
    let (mut modules, mut functions, mut memories) = (0, 0, 0);
    for (i, payload) in Parser::new(0).parse_all(wasm).enumerate() {
        let Ok(payload) = payload else { break };
        match payload {
            Payload::Version { encoding, .. } if i == 0 && encoding != Encoding::Component => {
                break;
            }
            Payload::ModuleSection { .. } => add(&mut modules, 1, Cap::CoreModules)?,
            Payload::FunctionSection(section) => {
                add(&mut functions, section.count(), Cap::Functions)?;
            }
            Payload::MemorySection(section) => add(&mut memories, section.count(), Cap::Memories)?,
            Payload::CodeSectionEntry(body) => {
                within(body.range().len() as u64, Cap::FunctionBytes)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Adds `more` to `total`, refusing once it is over `cap`.
fn add(total: &mut u64, more: u32, cap: Cap) -> Result<(), DispatcherError> {
    *total += u64::from(more);
    within(*total, cap)
}

fn within(found: u64, cap: Cap) -> Result<(), DispatcherError> {
    if found > cap.max() {
        return Err(DispatcherError::OverCap { cap, found });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use wasm_encoder::{
        CodeSection, Component, Function, FunctionSection, MemorySection, MemoryType, Module,
        ModuleSection, TypeSection,
    };

    use super::*;

    /// A component of one core module with `functions` functions of `nops` no-ops and
    /// `memories` memories.
    fn component(functions: u32, nops: usize, memories: u32) -> Vec<u8> {
        let mut module = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        let mut declared = FunctionSection::new();
        let mut code = CodeSection::new();
        for _ in 0..functions {
            declared.function(0);
            let mut body = Function::new([]);
            body.raw(vec![0x01; nops]).instructions().end();
            code.function(&body);
        }
        module.section(&declared);
        let mut memory = MemorySection::new();
        for _ in 0..memories {
            memory.memory(MemoryType {
                minimum: 1,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            });
        }
        module.section(&memory);
        module.section(&code);
        let mut component = Component::new();
        component.section(&ModuleSection(&module));
        component.finish()
    }

    fn refused_by(wasm: &[u8]) -> Option<Cap> {
        match check_caps(wasm) {
            Ok(()) => None,
            Err(DispatcherError::OverCap { cap, .. }) => Some(cap),
            Err(other) => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn a_component_within_every_cap_passes() {
        assert_eq!(refused_by(&component(1_000, 1, 1)), None);
    }

    #[test]
    fn a_component_over_the_function_cap_is_refused() {
        let over = Cap::Functions.max() as u32 + 1;
        assert_eq!(refused_by(&component(over, 0, 1)), Some(Cap::Functions));
    }

    #[test]
    fn a_component_over_the_memory_cap_is_refused() {
        let over = Cap::Memories.max() as u32 + 1;
        assert_eq!(refused_by(&component(1, 0, over)), Some(Cap::Memories));
    }

    #[test]
    fn a_component_with_a_function_over_the_size_cap_is_refused() {
        let over = Cap::FunctionBytes.max() as usize;
        assert_eq!(refused_by(&component(1, over, 1)), Some(Cap::FunctionBytes));
    }

    #[test]
    fn core_modules_and_garbage_are_left_to_the_compiler() {
        assert_eq!(refused_by(b"definitely not wasm"), None);
        let mut module = Module::new();
        let mut declared = FunctionSection::new();
        for _ in 0..=Cap::Functions.max() {
            declared.function(0);
        }
        module.section(&declared);
        assert_eq!(refused_by(&module.finish()), None);
    }
}
