//! The `#[handler]` attribute of `switchyard-sdk`: turns a plain function over a batch into
//! the component export the server calls. Use it through `switchyard_sdk::handler`.

use proc_macro::TokenStream;
use quote::quote;
use syn::{ItemFn, parse_macro_input};

/// Marks the function that handles a batch: `fn(Batch) -> Vec<Outcome>`.
///
/// The function stays callable from Rust (so native tests call it directly); on
/// `wasm32` targets the attribute also exports it as the plugin's `handle`.
#[proc_macro_attribute]
pub fn handler(args: TokenStream, input: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[handler] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let function = parse_macro_input!(input as ItemFn);
    if let Some(problem) = signature_problem(&function) {
        return syn::Error::new_spanned(&function.sig, problem)
            .to_compile_error()
            .into();
    }
    let name = &function.sig.ident;
    quote! {
        #function

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct SwitchyardPlugin;

            impl ::switchyard_sdk::__private::Guest for SwitchyardPlugin {
                fn handle(
                    batch: ::std::vec::Vec<::switchyard_sdk::__private::WitMessage>,
                ) -> ::std::vec::Vec<::switchyard_sdk::__private::WitOutcome> {
                    ::switchyard_sdk::__private::run(batch, #name)
                }
            }

            ::switchyard_sdk::__private::bindings::__export_consumer!(
                SwitchyardPlugin with_types_in ::switchyard_sdk::__private::bindings
            );
        };
    }
    .into()
}

fn signature_problem(function: &ItemFn) -> Option<&'static str> {
    let sig = &function.sig;
    if sig.asyncness.is_some() {
        return Some("a handler is a plain (not async) function");
    }
    if !sig.generics.params.is_empty() {
        return Some("a handler takes no generic parameters");
    }
    if sig.inputs.len() != 1 {
        return Some("a handler takes exactly one argument: the batch (`batch: Batch`)");
    }
    if matches!(sig.output, syn::ReturnType::Default) {
        return Some("a handler returns one outcome per message: `-> Vec<Outcome>`");
    }
    None
}
