-- Run once by the postgres image's entrypoint on an empty data directory, as POSTGRES_USER (ms):
-- one database per service that has one; each service applies its own migrations at start.
-- "order" and "user" are reserved words, hence the quotes.
CREATE DATABASE product;
CREATE DATABASE "order";
CREATE DATABASE "user";
CREATE DATABASE inventory;
CREATE DATABASE notification;
