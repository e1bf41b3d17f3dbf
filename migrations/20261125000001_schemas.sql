-- The seed's four schemas: shared platform tables, then one per module.
create schema if not exists smartflow_shared;
create schema if not exists smartflow_main;
create schema if not exists smartflow_ai;
create schema if not exists smartflow_social;
