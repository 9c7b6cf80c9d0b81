"""The alerts in Dagster: the sensor that tells a person when the books need one."""
