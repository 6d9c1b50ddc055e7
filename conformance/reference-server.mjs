// The Durable Streams reference server (@durable-streams/server), for bench/streams.py.
// Env: PORT (required), DATA_DIR (optional: file-backed store; else in memory), LONG_POLL_MS.
import { DurableStreamTestServer } from "@durable-streams/server"

const options = {
  port: Number(process.env.PORT),
  host: "127.0.0.1",
  longPollTimeout: Number(process.env.LONG_POLL_MS ?? "500"),
}
if (process.env.DATA_DIR) options.dataDir = process.env.DATA_DIR
const server = new DurableStreamTestServer(options)
const url = await server.start()
console.log(`ready ${url}`)
const stop = async () => {
  await server.stop()
  process.exit(0)
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
