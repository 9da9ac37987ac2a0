// Starts the console: loads the wasm-bindgen glue and the WebAssembly it binds. A file of
// its own (not an inline script) because the server's Content-Security-Policy allows only
// scripts from the server itself.
import init from "./switchyard-console.js";

init().catch((error) => {
  const banner = document.createElement("p");
  banner.className = "banner error";
  banner.textContent = "The console could not start: " + error;
  document.body.append(banner);
});
