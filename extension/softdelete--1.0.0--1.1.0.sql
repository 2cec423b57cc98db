-- softdelete 1.1.0 (in development): update from 1.0.0.
-- A fresh CREATE EXTENSION runs softdelete--1.0.0.sql and then this script,
-- so this is the one place where changes since 1.0.0 go. It must also bring
-- tables enabled under 1.0.0 to what enable() makes now
-- (test/t/030_upgrade.pl compares the two).
\echo Use "ALTER EXTENSION softdelete UPDATE" to load this file. \quit
