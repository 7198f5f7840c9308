import { bigint, boolean, datetime, index, int, mysqlTable, uniqueIndex, varchar } from "drizzle-orm/mysql-core";

export const couponEvents = mysqlTable("coupon_events", {
  id: int("id").autoincrement().primaryKey(),
  name: varchar("name", { length: 200 }).notNull(),
  stock: int("stock").notNull(),
  // Only the db-lock strategy decrements this column; the redis strategy keeps stock in Redis.
  remaining: int("remaining").notNull(),
  trafficRpm: int("traffic_rpm").notNull(),
  runningCapacity: int("running_capacity").notNull(),
  admitPerSecond: int("admit_per_second").notNull(),
  startsAt: datetime("starts_at", { fsp: 3 }).notNull(),
  endsAt: datetime("ends_at", { fsp: 3 }),
  closed: boolean("closed").notNull().default(false),
  createdAt: datetime("created_at", { fsp: 3 }).notNull(),
});

export const couponIssues = mysqlTable(
  "coupon_issues",
  {
    id: bigint("id", { mode: "number", unsigned: true }).autoincrement().primaryKey(),
    eventId: int("event_id").notNull(),
    // ascii_bin (migration 0001): ids are case-sensitive, like everywhere else in the system
    userId: varchar("user_id", { length: 64 }).notNull(),
    issuedAt: datetime("issued_at", { fsp: 3 }).notNull(),
    // The Redis stream entry that produced the row (null for the db-lock strategy): lets an operator
    // trace any row back to the accepted request.
    streamId: varchar("stream_id", { length: 40 }),
  },
  (t) => [uniqueIndex("uq_event_user").on(t.eventId, t.userId), index("ix_event_issued").on(t.eventId, t.issuedAt)],
);
