-- Two roles: the owner runs migrations; the app connects as a role that row-level security
-- binds (neither superuser nor BYPASSRLS). Passwords come from the compose environment.
\getenv owner_password POSTGRES_OWNER_PASSWORD
\getenv app_password POSTGRES_APP_PASSWORD
CREATE ROLE clinic_owner LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS PASSWORD :'owner_password';
CREATE ROLE clinic_app LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD :'app_password';
CREATE DATABASE clinicphotos OWNER clinic_owner;
