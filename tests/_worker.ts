// Runs one message through a Worker script and returns its answer: for
// the Worker entry scripts' own tests.

/** Starts `url` as a module Worker, posts `message`, resolves its reply. */
export async function askWorker<T>(url: URL, message: unknown): Promise<T> {
  const worker = new Worker(url, { type: "module" });
  try {
    return await new Promise<T>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data as T);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      worker.postMessage(message);
    });
  } finally {
    worker.terminate();
  }
}
