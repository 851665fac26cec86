// Preloaded into the soak's gateway processes (node --expose-gc --import): SIGUSR2 runs a full GC, so the
// soak reads each process's RSS at its floor instead of somewhere on V8's old-space sawtooth.
process.on('SIGUSR2', () => globalThis.gc?.());
