// k6-style virtual users: each holds one connection and loops `iteration`, then thinks. Unlike the
// closed loop, the offered load is fixed (about vus / (think + latency) iterations per second), so
// two systems can be compared at the same load rather than each at its own saturation point.
import { connectAll, Conn } from "./http1";
import { Recorder, type LoadStats } from "./stats";

export type VuOptions = {
  port: number;
  vus: number;
  durationS: number;
  thinkMs: number;
  iteration: (conn: Conn, rec: Recorder) => Promise<void>;
};

export async function runVus(o: VuOptions): Promise<LoadStats> {
  const conns = await connectAll(o.port, o.vus);
  const rec = new Recorder();
  const t0 = performance.now();
  const end = t0 + o.durationS * 1000;
  await Promise.all(
    conns.map(async (first) => {
      let conn = first;
      // start spread over one think time, as VUs drift apart in a real run
      await Bun.sleep(Math.random() * o.thinkMs);
      while (performance.now() < end) {
        try {
          await o.iteration(conn, rec);
        } catch (e) {
          rec.errors++;
          if ((e as Error).message === "timeout") rec.timeouts++;
          conn.close();
          conn = await Conn.connect(o.port);
        }
        if (performance.now() >= end) break;
        await Bun.sleep(o.thinkMs);
      }
      conn.close();
    }),
  );
  return rec.summary((performance.now() - t0) / 1000, o.vus);
}
