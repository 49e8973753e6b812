-- tweedy's feed (the SQL database "posts"), made when the app is installed. It is
-- the store tweedy shares: followers read these tables, read-only, in their replica.
CREATE TABLE posts (
  id INTEGER PRIMARY KEY,
  author_node TEXT NOT NULL,   -- The node that wrote it; "" while that node did not know its id.
  text TEXT NOT NULL,
  created_ms INTEGER NOT NULL
);
-- key "node": the author's node id, so that followers take live posts from that
-- node alone.
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
