/**
 * Node's on-disk compile cache (module.enableCompileCache, Node >= 22.1) for
 * every module the command loads after this one: V8 reuses their bytecode
 * from an earlier run instead of compiling the agent's dependencies at every
 * start. Older Nodes have no such API, and then nothing is done: a cache of
 * our own would have to check V8's data against its source, which Node does.
 * NODE_DISABLE_COMPILE_CACHE=1 turns it off; the cache lives in the OS temp
 * directory unless NODE_COMPILE_CACHE names another.
 *
 * main.ts imports this module first: it runs before any command's modules
 * load (those are the bulk; main.ts and what it imports itself are small).
 */
import module from 'node:module';

(module as typeof module & { enableCompileCache?: () => unknown }).enableCompileCache?.();
