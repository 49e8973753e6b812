-- The guestbook's SQL store (main), made when the app is installed.
CREATE TABLE entries (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  greeting TEXT NOT NULL,
  seen_as TEXT NOT NULL,
  at_ms INTEGER NOT NULL
);
