-- docker-compose: Airflow's metadata database beside BBX's own (created by POSTGRES_DB).
CREATE DATABASE bbx_airflow;
