-- The catalog. Prices are integer cents, never floating point.
CREATE TABLE products (
    id          integer PRIMARY KEY CHECK (id > 0),
    name        text    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text    NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    currency    char(3) NOT NULL DEFAULT 'USD',
    category    text    NOT NULL,
    image_url   text    NOT NULL
);

-- Serves both the category filter and the stable order by id.
CREATE INDEX products_category_id ON products (category, id);
