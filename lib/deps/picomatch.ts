// picomatch (--exclude globs), pinned here once (see grpc.ts).
export { default } from "npm:picomatch@4.0.7";
