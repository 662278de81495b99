"""Changes made to a classic Northwind in PostgreSQL, as its applications would make them: an order
shipped, a line corrected, a line and an order removed, and a new order with a line."""

import psycopg

CHANGES = (
    "UPDATE orders SET shipped_date = DATE '1998-06-01' WHERE order_id = 10248",
    "UPDATE order_details SET quantity = quantity + 5 WHERE order_id = 10249",
    "DELETE FROM order_details WHERE order_id = 10250",
    "DELETE FROM order_details WHERE order_id = 10251; DELETE FROM orders WHERE order_id = 10251",
    "INSERT INTO orders (order_id, customer_id, employee_id, order_date, ship_country) "
    "VALUES (20001, 'ALFKI', 1, DATE '1998-06-02', 'Germany')",
    "INSERT INTO order_details (order_id, product_id, unit_price, quantity, discount) VALUES (20001, 11, 14, 3, 0)",
)


def change_source(source_url: str, *statements: str) -> None:
    """Run ``statements`` on the database at ``source_url`` (a SQLAlchemy URL), each committed on its own."""
    with psycopg.connect(source_url.replace("+psycopg", ""), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)
